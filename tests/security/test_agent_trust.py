"""Attacks by a write-only agent on snapshot trust (issue 8, sections 2, 3, 6 and 7).

Each test performs the attack the way the review did it, asserts that it fails and
that nothing genuine is lost, and has a positive control so that it can fail.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD, warning_context
from tests.json_lines import last_json

from keyark import agents, ops
from keyark.archiver.backup import BackupOptions, backup
from keyark.catalog.snapshots import find_snapshot, list_snapshots
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials
from keyark.errors import Hint, IntegrityError, UsageError
from keyark.repo.agent_session import AgentRepository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, now
from keyark.restorer.run import RestoreOptions, restore

CREDS = Credentials(passphrase=PASSWORD.encode())


class Setup:
    """A repository, its full-key client and helpers to act as an agent."""

    def __init__(self, tmp_path: Path, name: str = "repo") -> None:
        self.tmp = tmp_path
        self.url = str(tmp_path / name)
        self.cache = tmp_path / f"{name}-cache"
        ops.init_repository(self.url, PASSWORD.encode(), pack_size_mib=1).close()
        self.repo = ops.open_repository(self.url, CREDS, cache_dir=self.cache)
        self.ctx, self.warnings = warning_context(self.cache)

    def add_agent(self, name: str, hosts: list[str]) -> Path:
        credential = self.tmp / f"{name}.cred"
        agents.add_agent(self.repo, name, credential, hosts=hosts)
        return credential

    def agent_repo(self, credential: Path) -> AgentRepository:
        return agents.open_agent_repository(self.url, credential)

    def agent_backup(
        self, credential: Path, source: Path, options: BackupOptions | None = None
    ) -> str:
        """One agent run through the ordinary code path; returns the snapshot id."""
        agent = self.agent_repo(credential)
        try:
            agent_ctx = OperationContext(cache_dir=self.tmp / f"agent-cache-{credential.stem}")
            chosen = replace(options or BackupOptions(), paths=[str(source)])
            summary = backup(agent, chosen, agent_ctx)
        finally:
            agent.close()
        assert summary.snapshot_id
        return summary.snapshot_id

    def backup(self, source: Path, host: str) -> str:
        summary = backup(self.repo, BackupOptions(paths=[str(source)], host=host), self.ctx)
        assert summary.snapshot_id
        return summary.snapshot_id

    def trust(self) -> dict[str, str]:
        return {s.id: s.extra["trust"] for s in list_snapshots(self.repo, self.ctx)}

    def close(self) -> None:
        self.repo.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.close()


def _source(root: Path, content: str) -> Path:
    (root / "tls").mkdir(parents=True, exist_ok=True)
    (root / "tls" / "server.key").write_text(content)
    return root


def _agent_claiming_host_b(setup: Setup) -> Path:
    """Agent web1, registered for hostA, whose credential file was edited to claim hostB."""
    credential = setup.add_agent("web1", ["hostA"])
    document = json.loads(credential.read_text())
    document["hosts"] = ["hostA", "hostB"]
    credential.write_text(json.dumps(document))
    return credential


def _restored(setup: Setup, snapshot: Snapshot, target: Path, source: Path) -> str:
    restore(setup.repo, snapshot, RestoreOptions(target=str(target)), setup.ctx)
    return (target / source.relative_to("/") / "tls" / "server.key").read_text()


# --------------------------------------------------------------------- section 2
def test_forged_host_is_flagged_never_selected_never_a_parent(setup: Setup, tmp_path: Path) -> None:
    source = _source(tmp_path / "srv", "GENUINE host B key")
    genuine = setup.backup(source, "hostB")
    # Attack: the agent (registered for hostA) edits its credential to claim hostB and
    # plants a snapshot of hostB's path with its own content.
    credential = _agent_claiming_host_b(setup)
    (source / "tls" / "server.key").write_text("PLANTED by the agent")
    planted = setup.agent_backup(credential, source, BackupOptions(host="hostB"))
    (source / "tls" / "server.key").write_text("GENUINE host B key")
    # Positive control: the same agent's snapshot of its own host is trusted and selected.
    own = setup.agent_backup(credential, _source(tmp_path / "a", "A"), BackupOptions(host="hostA"))
    trust = setup.trust()
    assert trust[planted] == "foreign-host" and trust[own] == "signed"
    assert trust[genuine] == "full-key"
    latest_a = find_snapshot(setup.repo, "latest", setup.ctx, SnapshotFilter(hosts=["hostA"]))
    assert latest_a.id == own
    # The planted snapshot is the newest of hostB, yet 'latest --host hostB' skips it, says so.
    snaps = {s.id: s for s in list_snapshots(setup.repo, setup.ctx)}
    assert snaps[planted].time > snaps[genuine].time and snaps[planted].host == "hostB"
    setup.warnings.clear()
    chosen = find_snapshot(setup.repo, "latest", setup.ctx, SnapshotFilter(hosts=["hostB"]))
    assert chosen.id == genuine
    assert any("1 flagged snapshot skipped" in w for w in setup.warnings), setup.warnings
    at = find_snapshot(setup.repo, None, setup.ctx, SnapshotFilter(hosts=["hostB"]), at=now())
    assert at.id == genuine
    assert _restored(setup, chosen, tmp_path / "out", source) == "GENUINE host B key"
    # The flagged snapshot is refused by restore unless asked for explicitly.
    with pytest.raises(IntegrityError, match="only if unsigned snapshots are allowed") as refused:
        restore(
            setup.repo,
            snaps[planted],
            RestoreOptions(target=str(tmp_path / "x")),
            OperationContext(),
        )
    assert refused.value.hint == Hint.ALLOW_UNSIGNED
    # hostB's next full-key backup does not take the agent's snapshot as its parent.
    summary = backup(setup.repo, BackupOptions(paths=[str(source)], host="hostB"), setup.ctx)
    assert summary.parent == genuine
    latest = find_snapshot(setup.repo, "latest", setup.ctx, SnapshotFilter(hosts=["hostB"]))
    assert latest.id == summary.snapshot_id
    assert _restored(setup, latest, tmp_path / "out2", source) == "GENUINE host B key"


def test_trusted_agent_snapshot_is_never_a_full_key_parent(setup: Setup, tmp_path: Path) -> None:
    source = _source(tmp_path / "srv", "GENUINE")
    genuine = setup.backup(source, "hostB")
    credential = setup.add_agent("b-agent", ["hostB"])
    agent_snapshot = setup.agent_backup(credential, source, BackupOptions(host="hostB"))
    assert setup.trust()[agent_snapshot] == "signed"  # trusted, newest for hostB...
    summary = backup(setup.repo, BackupOptions(paths=[str(source)], host="hostB"), setup.ctx)
    assert summary.parent == genuine  # ...but never a full-key backup's parent


def test_agent_refuses_an_unregistered_host(setup: Setup, tmp_path: Path) -> None:
    credential = setup.add_agent("web1", ["hostA"])
    source = _source(tmp_path / "a", "A")
    with pytest.raises(UsageError, match="not registered for host 'hostB'"):
        setup.agent_backup(credential, source, BackupOptions(host="hostB"))
    assert setup.agent_backup(credential, source, BackupOptions(host="hostA"))


# --------------------------------------------------------------------- section 3
def test_backdated_snapshot_after_revocation_is_flagged(setup: Setup, tmp_path: Path) -> None:
    credential = setup.add_agent("web1", ["hostA"])
    source = _source(tmp_path / "a", "accepted")
    accepted = setup.agent_backup(credential, source)
    assert setup.trust()[accepted] == "signed"
    info = agents.revoke_agent(setup.repo, "web1")
    assert info.accepted == 1
    # Attack: the revoked agent back-dates new snapshots to before the revocation.
    (source / "tls" / "server.key").write_text("written after revocation")
    backdated = setup.agent_backup(
        credential, source, BackupOptions(time=now() - timedelta(days=30))
    )
    minutes = setup.agent_backup(
        credential, source, BackupOptions(time=now() - timedelta(minutes=10), tags=["m"])
    )
    trust = setup.trust()
    assert trust[backdated] == "revoked-agent" and trust[minutes] == "revoked-agent"
    # Positive control: the snapshot accepted before revocation stays trusted.
    assert trust[accepted] == "signed"
    chosen = find_snapshot(setup.repo, "latest", setup.ctx)
    assert chosen.id == accepted
    assert _restored(setup, chosen, tmp_path / "out", source) == "accepted"
    # A reopened client (fresh catalog) reaches the same verdict.
    setup.repo.close()
    setup.repo = ops.open_repository(setup.url, CREDS, cache_dir=setup.cache)
    ctx = OperationContext(cache_dir=tmp_path / "fresh-cache")
    fresh = {s.id: s.extra["trust"] for s in list_snapshots(setup.repo, ctx)}
    assert fresh == trust


# --------------------------------------------------------------------- section 6
def _plant_hostile_snapshot(url: str, credential: Path) -> str:
    """An agent seals (validly) a snapshot whose summary holds a bytes value."""
    agent = agents.open_agent_repository(url, credential)
    try:
        agent.store_session_key()
        tree, _ = agent.blobs.save_tree([])
        agent.blobs.flush()
        snapshot = Snapshot(
            time=now(),
            host="web1",
            username="x",
            paths=["/etc"],
            tree=tree,
            summary={"files_new": b"\x00not a number"},
        )
        return agent.snapshots.save(snapshot)
    finally:
        agent.close()


def test_hostile_snapshot_summary_does_not_stop_commands(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path / "srv", "GENUINE")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--host", "hostB", check=True)
    credential = tmp_path / "web1.cred"
    cli.run("agent", "add", "web1", "--out", str(credential), check=True)
    hostile = _plant_hostile_snapshot(str(cli.repo), credential)
    listed = cli.run("snapshots")
    assert listed.returncode == 0, listed.stderr
    assert hostile[:8] in listed.stderr and "Traceback" not in listed.stderr
    assert listed.stdout.splitlines()[-1] == "1 snapshot"  # the genuine one is still listed
    target = tmp_path / "out"
    restored = cli.run("restore", "latest", "--target", str(target))
    assert restored.returncode == 0, restored.stderr
    assert (target / source.relative_to("/") / "tls" / "server.key").read_text() == "GENUINE"
    backup = cli.run("backup", str(source), "--host", "hostB")
    assert backup.returncode == 0 and "Traceback" not in backup.stderr, backup.stderr
    checked = cli.run("check")
    assert checked.returncode == 1 and hostile[:8] in checked.stdout + checked.stderr
    # Positive control: the agent's ordinary snapshots are still read and trusted.
    env = dict(cli.env, KEYARK_AGENT_CREDENTIAL=str(credential))
    env.pop("KEYARK_PASSWORD")
    cli.run("backup", str(source), env=env, check=True)
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert sorted(s["trust"] for s in snaps) == ["full-key", "full-key", "signed"]


# --------------------------------------------------------------------- section 7
def test_copy_keeps_provenance_and_refuses_flagged(cli: CLI, tmp_path: Path) -> None:
    source_setup = Setup(tmp_path, "source")
    try:
        src = _source(tmp_path / "srv", "content")
        full = source_setup.backup(src, "hostB")
        credential = source_setup.add_agent("web1", ["web1"])
        signed = source_setup.agent_backup(credential, src)
        document = json.loads(credential.read_text())
        document["hosts"] = ["web1", "hostB"]
        credential.write_text(json.dumps(document))
        flagged = source_setup.agent_backup(credential, src, BackupOptions(host="hostB"))
        assert source_setup.trust() == {full: "full-key", signed: "signed", flagged: "foreign-host"}
    finally:
        source_setup.close()
    cli.run("init", check=True)
    env = {"KEYARK_FROM_PASSWORD": PASSWORD}
    from_repo = ("--from-repo", source_setup.url)
    refused = cli.run("copy", *from_repo, flagged, env=env)
    assert refused.returncode == 1 and "--allow-unsigned" in refused.stderr, refused.stderr
    assert json.loads(cli.run("snapshots", "--json", check=True).stdout) == []
    refused_all = cli.run("copy", *from_repo, "--all", env=env)
    assert refused_all.returncode == 1
    assert json.loads(cli.run("snapshots", "--json", check=True).stdout) == []
    # Positive control: trusted snapshots copy, the agent's keeping its name and trust.
    cli.run("copy", *from_repo, full, signed, env=env, check=True)
    copied = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    by_trust = {s["trust"]: s for s in copied}
    assert set(by_trust) == {"full-key", "signed"}
    assert by_trust["signed"]["agent"] == "web1" and "agent" not in by_trust["full-key"]
    # With --allow-unsigned the flagged snapshot is copied and stays flagged, attributed.
    cli.run("copy", *from_repo, flagged, "--allow-unsigned", env=env, check=True)
    copied = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    flagged_copy = [s for s in copied if s["trust"] not in ("full-key", "signed")]
    assert len(flagged_copy) == 1
    assert flagged_copy[0]["trust"] == "foreign-host" and flagged_copy[0]["agent"] == "web1"
    assert "[FLAGGED: foreign-host]" in cli.run("snapshots", check=True).stdout
    # In the target, the flagged copy is neither selected nor a full-key parent.
    restored = cli.run("restore", "latest", "--host", "hostB", "--target", str(tmp_path / "o"))
    assert restored.returncode == 0 and "flagged snapshot skipped" in restored.stderr
    refused_restore = cli.run("restore", flagged_copy[0]["id"], "--target", str(tmp_path / "p"))
    assert refused_restore.returncode == 1 and "--allow-unsigned" in refused_restore.stderr
    backup = last_json(cli.run("backup", str(src), "--host", "hostB", "--json", check=True).stdout)
    assert backup.get("parent") == by_trust["full-key"]["id"]


def test_escape_sequences_are_rendered_escaped(cli: CLI, tmp_path: Path) -> None:
    hide = "\x1b[8m"
    cli.run("init", check=True)
    credential = tmp_path / "web1.cred"
    cli.run("agent", "add", "web1", "--out", str(credential), check=True)
    source = tmp_path / "srv"
    source.mkdir()
    (source / f"a{hide}b.key").write_text("x")
    # A modified agent client claims a host name (and tag) carrying ESC[8m.
    agent = agents.open_agent_repository(str(cli.repo), credential)
    try:
        agent.credential.hosts.append(f"evil{hide}")
        summary = backup(
            agent,
            BackupOptions(paths=[str(source)], host=f"evil{hide}", tags=[f"t{hide}"]),
            OperationContext(cache_dir=tmp_path / "agent-cache"),
        )
    finally:
        agent.close()
    assert summary.snapshot_id
    short = summary.snapshot_id[:8]
    # Positive control: the data really holds ESC (JSON escapes it as \u001b).
    raw = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert raw[0]["host"] == f"evil{hide}" and raw[0]["trust"] == "foreign-host"
    for args in (
        ("snapshots",),
        ("ls", summary.snapshot_id),
        ("ls", "--long", summary.snapshot_id),
        ("find", "*.key"),
        ("diff", summary.snapshot_id, summary.snapshot_id),
        ("agent", "list"),
    ):
        result = cli.run(*args, check=True)
        assert "\x1b" not in result.stdout + result.stderr, args
        if args[0] in ("snapshots", "ls", "find", "diff"):
            assert "[FLAGGED: foreign-host]" in result.stdout, (args, result.stdout)
    listing = cli.run("snapshots", check=True).stdout
    assert "evil\\x1b[8m" in listing and "t\\x1b[8m" in listing and short in listing
    assert "a\\x1b[8mb.key" in cli.run("ls", summary.snapshot_id, check=True).stdout
    # dump of the flagged snapshot is refused; 'latest' does not pick it.
    dumped = cli.run("dump", summary.snapshot_id, f"{source}/a{hide}b.key")
    assert dumped.returncode == 1 and "--allow-unsigned" in dumped.stderr
    latest = cli.run("dump", "latest", "/x")
    assert latest.returncode == 1 and "flagged snapshot skipped" in latest.stderr
    assert "\x1b" not in latest.stderr


def _has_xattr(path: Path, name: str) -> bool:
    return name in os.listxattr(path, follow_symlinks=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* xattrs need root")
def test_restore_of_agent_snapshot_drops_privileges(setup: Setup, tmp_path: Path) -> None:
    source = tmp_path / "srv"
    source.mkdir()
    tool = source / "tool"
    tool.write_bytes(b"#!/bin/sh\n")
    os.chmod(tool, 0o4755)
    shared = source / "shared"
    shared.mkdir()
    os.chmod(shared, 0o2775)
    try:
        os.setxattr(tool, "trusted.planted", b"1")
    except OSError:
        pytest.skip("this file system has no trusted.* xattrs")
    os.setxattr(tool, "user.note", b"kept")
    credential = setup.add_agent("web1", ["web1"])
    agent_snapshot = setup.agent_backup(credential, source)
    full_snapshot = setup.backup(source, "hostB")
    snaps = {s.id: s for s in list_snapshots(setup.repo, setup.ctx)}

    def restore_to(snapshot: str, target: Path, keep: bool) -> Path:
        options = RestoreOptions(target=str(target), keep_privileges=keep)
        restore(setup.repo, snaps[snapshot], options, setup.ctx)
        return target / source.relative_to("/")

    dropped = restore_to(agent_snapshot, tmp_path / "dropped", False)
    mode = (dropped / "tool").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID) and stat.S_IMODE(mode) == 0o755
    assert not (dropped / "shared").stat().st_mode & stat.S_ISGID
    assert not _has_xattr(dropped / "tool", "trusted.planted")
    assert _has_xattr(dropped / "tool", "user.note")  # ordinary xattrs stay
    # --keep-privileges keeps them; so does a full-key snapshot (positive controls).
    for restored in (
        restore_to(agent_snapshot, tmp_path / "kept", True),
        restore_to(full_snapshot, tmp_path / "full", False),
    ):
        assert (restored / "tool").stat().st_mode & stat.S_ISUID
        assert (restored / "shared").stat().st_mode & stat.S_ISGID
        assert _has_xattr(restored / "tool", "trusted.planted")


def test_reencryption_does_not_launder_an_unsigned_snapshot(setup: Setup, tmp_path: Path) -> None:
    from keyark.maintenance.rotate import reencrypt

    source = _source(tmp_path / "srv", "GENUINE")
    full = setup.backup(source, "hostB")
    credential = setup.add_agent("web1", ["web1"])
    signed = setup.agent_backup(credential, source)
    # Attack: the agent stores a snapshot without its signature wrapper (unsigned), hoping
    # that 'key rotate --reencrypt' re-seals it under the full data key.
    agent = setup.agent_repo(credential)
    try:
        agent.store_session_key()
        tree, _ = agent.blobs.save_tree([])
        agent.blobs.flush()
        body = Snapshot(time=now(), host="hostB", username="x", paths=[str(source)], tree=tree)
        unsigned = agent.snapshots.store_bytes(body.to_bytes())
    finally:
        agent.close()
    before = setup.trust()
    assert before == {full: "full-key", signed: "signed", unsigned: "unsigned"}
    reencrypt(setup.repo)
    after = {
        s.extra["trust"]: s
        for s in list_snapshots(setup.repo, OperationContext(cache_dir=tmp_path / "c2"))
    }
    # The unsigned snapshot was moved under the data key (its session key is gone) but
    # stays unsigned; the full-key and signed ones keep their trust (positive controls).
    assert sorted(after) == ["full-key", "signed", "unsigned"]
    assert after["full-key"].id == full and after["signed"].id == signed
    chosen = find_snapshot(setup.repo, "latest", setup.ctx, SnapshotFilter(hosts=["hostB"]))
    assert chosen.id == full


def test_hostile_agent_snapshot_does_not_block_prune(cli: CLI, tmp_path: Path) -> None:
    """Prune skips an agent's unreadable snapshot, keeps its session's packs, frees the rest."""
    source = _source(tmp_path / "srv", "GENUINE")
    cli.run("init", check=True)
    old = json.loads(cli.run("backup", str(source), "--json", check=True).stdout.splitlines()[-1])
    (source / "tls" / "server.key").write_text("ROTATED")
    cli.run("backup", str(source), check=True)
    credential = tmp_path / "web1.cred"
    cli.run("agent", "add", "web1", "--out", str(credential), check=True)
    hostile = _plant_hostile_snapshot(str(cli.repo), credential)
    cli.run("forget", old["snapshot_id"], check=True)
    pruned = cli.run("prune", "--max-unused", "0%")
    assert pruned.returncode == 0, pruned.stderr
    assert hostile[:8] in pruned.stdout + pruned.stderr  # reported by name
    cli.run("check", "--read-data")  # still names the hostile snapshot, but data verifies
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), check=True)
    assert (target / source.relative_to("/") / "tls" / "server.key").read_text() == "ROTATED"
    # Positive control: a damaged full-key snapshot still stops prune (its data would be lost).
    snapshot_file = next((cli.repo / "snapshots").iterdir())
    for path in (cli.repo / "snapshots").iterdir():
        if not path.name.startswith(hostile):
            snapshot_file = path
    data = bytearray(snapshot_file.read_bytes())
    data[-1] ^= 1
    snapshot_file.chmod(0o600)
    snapshot_file.write_bytes(bytes(data))
    refused = cli.run("prune", "--max-unused", "0%")
    assert refused.returncode != 0 and "deleted nothing" in refused.stderr, refused.stderr


def test_repair_snapshots_does_not_launder_a_flagged_snapshot(setup: Setup, tmp_path: Path) -> None:
    from keyark.maintenance.repair_snapshots import RepairSnapshotsOptions, repair_snapshots
    from keyark.repo.pack import DATA, pack_name

    source = _source(tmp_path / "srv", "GENUINE host B key")
    genuine = setup.backup(source, "hostB")
    credential = _agent_claiming_host_b(setup)
    setup.repo.blobs.load_index(reload=True)
    before = {loc.pack_id for loc in setup.repo.blobs.index.all_locations()}
    planted_source = _source(tmp_path / "planted", "PLANTED by the agent")
    (planted_source / "tls" / "other.key").write_text("a second planted file")
    planted = setup.agent_backup(credential, planted_source, BackupOptions(host="hostB"))
    assert setup.trust()[planted] == "foreign-host"
    # Damage: the agent's data pack goes missing, so 'repair snapshots' rewrites the
    # planted (flagged) snapshot under the full key.
    setup.repo.blobs.load_index(reload=True)
    agent_data = {
        loc.pack_id
        for loc in setup.repo.blobs.index.all_locations()
        if loc.kind == DATA and loc.pack_id not in before
    }
    assert agent_data
    for pack_id in agent_data:
        (Path(setup.url) / pack_name(pack_id)).unlink()
    summary = repair_snapshots(setup.repo, RepairSnapshotsOptions(forget=True), setup.ctx)
    replaced = {item.original: item.replacement for item in summary.snapshots}
    fresh = replaced.get(planted)
    assert fresh, summary  # positive control: the planted snapshot was repaired
    trust = setup.trust()
    # The replacement keeps the original's provenance: still flagged, never full-key.
    assert trust[fresh] == "foreign-host", trust
    assert trust[genuine] == "full-key"
    chosen = find_snapshot(setup.repo, "latest", setup.ctx, SnapshotFilter(hosts=["hostB"]))
    assert chosen.id == genuine
