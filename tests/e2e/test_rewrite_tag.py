"""``rewrite`` and ``tag`` through the installed command (issue 11).

The headline case: a ``.env`` with a secret was backed up; ``rewrite --forget`` and a
prune leave the secret's bytes in no blob of any pack of the repository.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import CLI, PASSWORD, make_tree, tree_state
from tests.e2e.agent_cli import run_as_agent
from tests.e2e.test_cli import assert_one_line_error

from keyark import ops
from keyark.crypto.slots import Credentials
from keyark.repo.index import BlobLocation

SECRET = b"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKEDKEY"


def secret_tree(root: Path) -> Path:
    """A tree of key material with a leaked ``app/.env``."""
    make_tree(root)
    (root / "app").mkdir()
    (root / "app" / ".env").write_bytes(SECRET + b"\n")
    (root / "app" / "config.yaml").write_text("port: 8443\n")
    return root


def blobs_holding(repo_path: Path, needle: bytes) -> list[str]:
    """Every blob, in every pack stored (indexed or not), whose plaintext holds ``needle``."""
    repo = ops.open_repository(str(repo_path), Credentials(passphrase=PASSWORD.encode()))
    try:
        found = []
        for pack_id, size in repo.stored_packs().items():
            entries, key_id = repo.blobs.pack_header(pack_id, size)
            for entry in entries:
                location = BlobLocation.in_pack(pack_id, entry, key_id)
                if needle in repo.blobs.read_copy(location):
                    found.append(entry.blob_id.hex())
        return found
    finally:
        repo.close()


def stored_snapshot(repo_path: Path, snapshot_id: str) -> dict[str, Any]:
    """The extension fields of a stored snapshot (what ``describe`` does not show)."""
    repo = ops.open_repository(str(repo_path), Credentials(passphrase=PASSWORD.encode()))
    try:
        return dict(repo.snapshots.load(snapshot_id).extra)
    finally:
        repo.close()


def snapshots(cli: CLI) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    return listed


def found(cli: CLI, pattern: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = json.loads(cli.run("find", pattern, "--json", check=True).stdout)
    return [{**m, "snapshot": g["snapshot"]} for g in groups for m in g["matches"]]


def test_rewrite_forget_prune_removes_a_leaked_secret(cli: CLI, tmp_path: Path) -> None:
    source = secret_tree(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--tag", "nightly", "--host", "web1", check=True)
    [before] = snapshots(cli)
    # Positive controls: the secret is in the snapshot and in a pack.
    assert [m["path"] for m in found(cli, ".env")] == [str(source / "app" / ".env")]
    assert len(blobs_holding(cli.repo, SECRET)) == 1
    # No selection is refused (it never means "every snapshot").
    refused = cli.run("rewrite", "--exclude", ".env", "--forget")
    assert_one_line_error(refused, 1)
    assert "no snapshots selected" in refused.stderr and "--all" in refused.stderr
    assert_one_line_error(cli.run("rewrite", "latest", "--forget"), 1)  # no patterns
    assert [s["id"] for s in snapshots(cli)] == [before["id"]]

    done = cli.run("rewrite", "latest", "--exclude", ".env", "--forget", "--json", check=True)
    result = json.loads(done.stdout)
    [item] = result["snapshots"]
    assert result["snapshots_rewritten"] == 1 and not result["dry_run"]
    assert item["original"] == before["id"] and item["forgotten"]
    assert item["removed"] == [str(source / "app" / ".env")]
    [after] = snapshots(cli)
    assert after["id"] == item["replacement"] != before["id"]
    for field in ("time", "host", "tags", "paths", "username", "parent", "summary"):
        assert after[field] == before[field], field  # no "rewrite" tag with --forget
    assert after["trust"] == "full-key" and "agent" not in after
    assert stored_snapshot(cli.repo, after["id"])["original"] == before["id"]
    assert found(cli, ".env") == []
    assert len(found(cli, "config.yaml")) == 1
    # Only the snapshot object is gone: the data stays until a prune removes it.
    assert len(blobs_holding(cli.repo, SECRET)) == 1
    cli.run("prune", "--max-unused", "0", check=True)
    assert blobs_holding(cli.repo, SECRET) == []
    checked = json.loads(cli.run("check", "--read-data", "--json", check=True).stdout)
    assert checked["ok"]
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), check=True)
    restored = target / source.relative_to("/")
    assert not (restored / "app" / ".env").exists()
    (source / "app" / ".env").unlink()  # (the directory's mtime changes with it)
    restored_state, source_state = tree_state(restored), tree_state(source)
    assert restored_state.pop("app")[:2] == source_state.pop("app")[:2]
    assert restored_state == source_state


def test_rewrite_keeps_originals_without_forget(cli: CLI, tmp_path: Path) -> None:
    source = secret_tree(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    (source / "tls" / "new.key").write_text("rotated")
    cli.run("backup", str(source), "--tag", "second", check=True)
    first, second = (s["id"] for s in snapshots(cli))
    # A dry run says what would change and changes nothing.
    dry = json.loads(
        cli.run("rewrite", "--all", "--iexclude", ".ENV", "-n", "--json", check=True).stdout
    )
    assert dry["dry_run"] and dry["snapshots_rewritten"] == 2
    assert all(s["replacement"] and not s["forgotten"] for s in dry["snapshots"])
    assert [s["id"] for s in snapshots(cli)] == [first, second]
    # Patterns that match nothing modify nothing.
    none = cli.run("rewrite", "--all", "--exclude", "/nowhere", check=True)
    assert "no snapshots were modified" in none.stdout
    assert [s["id"] for s in snapshots(cli)] == [first, second]
    # Without --forget the new snapshot is tagged 'rewrite' and the original stays.
    patterns = tmp_path / "patterns"
    patterns.write_text("# secrets\n\n*.env\n**/tls/*.key\n")
    text = cli.run("rewrite", first[:8], "--exclude-file", str(patterns), check=True).stdout
    assert f"excluding {source}/app/.env" in text and "modified 1 snapshot\n" in text
    listed = {s["id"]: s for s in snapshots(cli)}
    assert first in listed and second in listed and len(listed) == 3
    [fresh] = [s for i, s in listed.items() if i not in (first, second)]
    assert fresh["tags"] == ["rewrite"] and fresh["time"] == listed[first]["time"]
    assert f"excluding {source}/tls/server.key" in text
    keys = {(m["snapshot"], m["name"]) for m in found(cli, "*.key")}
    assert (first, "server.key") in keys and (fresh["id"], "server.key") not in keys
    # Rewriting a replacement again records the first original.
    again = json.loads(
        cli.run(
            "rewrite", fresh["id"], "--exclude", "empty", "--forget", "--json", check=True
        ).stdout
    )
    replacement = again["snapshots"][0]["replacement"]
    assert stored_snapshot(cli.repo, replacement)["original"] == first
    assert fresh["id"] not in {s["id"] for s in snapshots(cli)}


def test_rewrite_selects_by_host_and_latest_honours_filters(cli: CLI, tmp_path: Path) -> None:
    source = secret_tree(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--host", "web1", check=True)
    cli.run("backup", str(source), "--host", "db1", check=True)
    web1, db1 = (s["id"] for s in snapshots(cli))
    # 'latest' with --host picks that host's newest snapshot, not the newest of all.
    done = cli.run(
        "rewrite", "latest", "--host", "web1", "-e", ".env", "--forget", "--json", check=True
    )
    assert json.loads(done.stdout)["snapshots"][0]["original"] == web1
    hosts = {s["host"]: s["id"] for s in snapshots(cli)}
    assert hosts["db1"] == db1 and hosts["web1"] != web1
    # A filter without ids selects every snapshot it matches.
    done = cli.run("rewrite", "--host", "db1", "-e", ".env", "--forget", "--json", check=True)
    assert [s["original"] for s in json.loads(done.stdout)["snapshots"]] == [db1]
    assert found(cli, ".env") == []


def test_tag_add_remove_set(cli: CLI, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--host", "web1", "--tag", "a", check=True)
    cli.run("backup", str(source), "--host", "db1", "--tag", "a", check=True)
    web1, db1 = (s["id"] for s in snapshots(cli))
    assert_one_line_error(cli.run("tag", "--add", "x"), 1)  # nothing selected
    assert_one_line_error(cli.run("tag", "latest"), 1)  # nothing to do
    assert_one_line_error(cli.run("tag", "latest", "--set", "x", "--add", "y"), 1)
    done = json.loads(cli.run("tag", "--host", "web1", "--add", "b,c", "--json", check=True).stdout)
    [item] = done["snapshots"]
    assert done["changed_snapshots"] == 1 and item["original"] == web1 and item["forgotten"]
    assert item["old_tags"] == ["a"] and item["new_tags"] == ["a", "b", "c"]
    listed = {s["host"]: s for s in snapshots(cli)}
    assert listed["web1"]["id"] == item["replacement"] and listed["web1"]["tags"] == ["a", "b", "c"]
    assert listed["db1"]["id"] == db1  # not selected, not touched
    assert stored_snapshot(cli.repo, item["replacement"])["original"] == web1
    # Adding a tag a snapshot has changes nothing: it is not replaced.
    same = cli.run("tag", "--host", "db1", "--add", "a", check=True)
    assert "no snapshots were modified" in same.stdout
    assert {s["id"] for s in snapshots(cli)} == {listed["web1"]["id"], db1}
    cli.run("tag", "--all", "--remove", "a", check=True)
    assert sorted(tuple(s["tags"]) for s in snapshots(cli)) == [(), ("b", "c")]
    cli.run("tag", "latest", "--host", "web1", "--set", "", check=True)
    assert [s["tags"] for s in snapshots(cli)] == [[], []]
    again = {s["host"]: s["id"] for s in snapshots(cli)}
    assert stored_snapshot(cli.repo, again["web1"])["original"] == web1  # the first original
    assert stored_snapshot(cli.repo, again["db1"])["original"] == db1
    assert cli.run("check", check=True).returncode == 0


def test_agents_are_refused_and_agent_snapshots_keep_their_trust(
    cli: CLI, agent: Path, tmp_path: Path
) -> None:
    source = secret_tree(tmp_path / "src")
    assert run_as_agent(cli, agent, "backup", str(source)).returncode == 0
    # A forger with the agent's public parts but another signing key.
    forged = json.loads(agent.read_text())
    forged["signing_key"] = os.urandom(32).hex()
    forged_path = tmp_path / "forged.cred"
    forged_path.write_text(json.dumps(forged))
    os.chmod(forged_path, 0o600)
    assert run_as_agent(cli, forged_path, "backup", str(source), "--tag", "forged").returncode == 0
    before = snapshots(cli)
    for verb in (
        ["rewrite", "latest", "--exclude", ".env", "--forget"],
        ["tag", "latest", "--add", "x"],
    ):
        refused = run_as_agent(cli, agent, *verb)
        assert_one_line_error(refused, 1)
        assert "can only write" in refused.stderr, verb
    assert snapshots(cli) == before
    # A full-key rewrite of an agent's snapshot is still the agent's, and as trusted.
    cli.run("rewrite", "--all", "--exclude", ".env", "--forget", check=True)
    cli.run("tag", "--all", "--add", "cleaned", check=True)
    after = {tuple(s["tags"]): s for s in snapshots(cli)}
    assert set(after) == {("cleaned",), ("forged", "cleaned")}
    assert after[("cleaned",)]["agent"] == "web1" and after[("cleaned",)]["trust"] == "signed"
    assert after[("forged", "cleaned")]["trust"] == "bad-signature"  # still flagged
    assert found(cli, ".env") == []
    # 'latest' still skips the flagged one; restoring it still needs --allow-unsigned.
    flagged = after[("forged", "cleaned")]["id"]
    refused = cli.run("restore", flagged, "--target", str(tmp_path / "o"))
    assert refused.returncode == 1 and "--allow-unsigned" in refused.stderr
