"""Issue 8, section 1: an agent that knows the id key plants garbage under a guessed blob id.

The attack, as in the review: a write-only agent credential holds the id key, so it
computes the id of content it can guess (a CA certificate, a ``.env`` deployed to
many hosts) and stores garbage under that id, sealed validly with its session key,
plus an index file listing it. Before the fix, full-key backups deduplicated
against it, restores failed depending on listing order, and prune / rotate kept
the garbage and deleted the genuine copy. Each step below must now fail for the
attacker, and nothing genuine may be lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import PASSWORD, tree_state

from keyark import ops
from keyark.agents import add_agent
from keyark.archiver.backup import BackupOptions, backup
from keyark.backends.base import ObjectInfo
from keyark.backends.local import LocalBackend
from keyark.context import OperationContext
from keyark.crypto.agents import AgentCredential
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.slots import Credentials
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.prune import PruneOptions, prune
from keyark.repo.agent_session import AgentRepository, open_for_agent
from keyark.repo.pack import DATA
from keyark.repo.repository import Repository
from keyark.restorer.run import RestoreOptions, restore
from keyark.units import UnusedLimit

CREDS = Credentials(passphrase=PASSWORD.encode())
#: Content the attacker can guess: already backed up by host A, and not yet backed up.
KNOWN = b"-----BEGIN CERTIFICATE-----\nshared CA certificate deployed everywhere\n" * 40
GUESSED = b"DATABASE_PASSWORD=the-same-on-every-host\nAPI_TOKEN=abc\n" * 40


@pytest.fixture
def url(tmp_path: Path) -> str:
    ops.init_repository(str(tmp_path / "repo"), PASSWORD.encode(), pack_size_mib=1).close()
    return str(tmp_path / "repo")


def full(url: str, tmp_path: Path) -> Repository:
    return ops.open_repository(url, CREDS, cache_dir=tmp_path / "cache")


def plant(url: str, credential: Path) -> set[bytes]:
    """The attack: garbage sealed validly under the ids of KNOWN and GUESSED."""
    agent = open_for_agent(LocalBackend(Path(url)), AgentCredential.read(credential))
    agent.store_session_key()  # the session key, so full-key readers can open it
    sealer = agent.blobs.current_sealer()
    for content in (KNOWN, GUESSED):
        blob_id = agent.blobs.hasher(content)  # the id key is all it takes
        garbage = b"attacker-controlled bytes!".ljust(len(content), b"#")
        sealed = sealer.seal_bare(ObjectKind.DATA_BLOB, blob_id, garbage)
        agent.blobs.packer().add(DATA, blob_id, sealed, len(content), 0)
    agent.blobs.flush()
    planted = {record for record in _pack_ids(agent)}
    agent.close()
    return planted


def _pack_ids(repo: Repository | AgentRepository) -> set[bytes]:
    return set(repo.blobs.index.packs())


def source_with(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def restore_ok(repo: Repository, snapshot_id: str, target: Path, source: Path) -> None:
    snapshot = repo.snapshots.load(snapshot_id)
    restore(repo, snapshot, RestoreOptions(str(target)), OperationContext())
    assert tree_state(target / str(source).lstrip("/")) == tree_state(source)


class _Ordered(LocalBackend):
    """Lists ``index/`` in a chosen order (S3 listing order is what an attacker grinds)."""

    reverse = False

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        items = sorted(super().list(prefix), key=lambda i: i.name)
        return iter(reversed(items) if self.reverse and prefix == "index/" else items)


@pytest.mark.parametrize("reverse", [False, True])
def test_planted_copy_never_dedups_shadows_or_survives_maintenance(
    url: str, tmp_path: Path, reverse: bool
) -> None:
    repo = full(url, tmp_path)
    add_agent(repo, "web1", tmp_path / "web1.cred")
    host_a = source_with(tmp_path / "hostA", {"ca.pem": KNOWN})
    first = backup(repo, BackupOptions([str(host_a)]), OperationContext())
    repo.close()

    planted = plant(url, tmp_path / "web1.cred")

    # Positive control: the planted entries ARE loaded, as untrusted, so the
    # defences below are really exercised.
    repo = full(url, tmp_path)
    repo.blobs.load_index()
    known_id, guessed_id = repo.blobs.hasher(KNOWN), repo.blobs.hasher(GUESSED)
    assert guessed_id in repo.blobs.index and not repo.blobs.index.has_trusted(guessed_id)
    assert {c.pack_id for c in repo.blobs.index.candidates(known_id)} & planted
    assert repo.blobs.index.get(known_id).trusted  # type: ignore[union-attr]

    # Host B's full-key backup stores its own copy of GUESSED (no dedup on garbage).
    host_b = source_with(tmp_path / "hostB", {"ca.pem": KNOWN, ".env": GUESSED})
    second = backup(repo, BackupOptions([str(host_b)]), OperationContext())
    assert second.bytes_added > 0
    repo.close()

    # Restores of both full-key snapshots work whatever the listing order.
    _Ordered.reverse = reverse
    ordered = Repository.open(_Ordered(Path(url)), CREDS)
    ordered.blobs.load_index()
    assert ordered.blobs.index.has_trusted(guessed_id)
    restore_ok(ordered, first.snapshot_id, tmp_path / "r1", host_a)
    restore_ok(ordered, second.snapshot_id, tmp_path / "r2", host_b)

    # check --read-data names the planted copies (agent-written), not lost snapshots.
    summary = check(ordered, CheckOptions(read_data=True))
    bad = [p for p in summary.problems if "does not verify" in p.message]
    assert bad and all("agent-written" in p.message for p in bad)
    assert {bytes.fromhex(p.object.split("/")[-1]) for p in bad} <= planted
    assert not any(p.snapshots for p in summary.problems)
    ordered.close()

    # prune --max-unused 0 keeps the genuine copies and drops the garbage.
    repo = full(url, tmp_path)
    prune(repo, PruneOptions(max_unused=UnusedLimit(percent=0)))
    repo = full(url, tmp_path)
    repo.blobs.load_index()
    for blob_id in (known_id, guessed_id):
        assert all(c.pack_id not in planted for c in repo.blobs.index.candidates(blob_id))
    restore_ok(repo, first.snapshot_id, tmp_path / "r3", host_a)
    restore_ok(repo, second.snapshot_id, tmp_path / "r4", host_b)
    repo.close()


def test_rotate_reencrypt_keeps_the_genuine_copy(url: str, tmp_path: Path) -> None:
    from keyark.maintenance.rotate import reencrypt

    repo = full(url, tmp_path)
    add_agent(repo, "web1", tmp_path / "web1.cred")
    source = source_with(tmp_path / "hostA", {"ca.pem": KNOWN, ".env": GUESSED})
    first = backup(repo, BackupOptions([str(source)]), OperationContext())
    repo.close()
    planted = plant(url, tmp_path / "web1.cred")
    repo = full(url, tmp_path)
    repo.blobs.load_index()
    assert {c.pack_id for c in repo.blobs.index.candidates(repo.blobs.hasher(GUESSED))} & planted
    reencrypt(repo, ctx=OperationContext())
    repo = full(url, tmp_path)
    repo.blobs.load_index()
    assert not set(repo.blobs.index.packs()) & planted
    restore_ok(repo, first.snapshot_id, tmp_path / "r", source)
    assert check(repo, CheckOptions(read_data=True)).ok
    repo.close()


def test_planted_copy_alone_is_never_used_for_dedup(url: str, tmp_path: Path) -> None:
    """Even with no genuine copy anywhere, the first full-key backup stores the content."""
    repo = full(url, tmp_path)
    add_agent(repo, "web1", tmp_path / "web1.cred")
    repo.close()
    plant(url, tmp_path / "web1.cred")
    repo = full(url, tmp_path)
    source = source_with(tmp_path / "host", {".env": GUESSED})
    summary = backup(repo, BackupOptions([str(source)]), OperationContext())
    assert summary.bytes_added >= len(GUESSED) // 4  # stored, not deduplicated away
    restore_ok(repo, summary.snapshot_id, tmp_path / "r", source)
    repo.close()


def test_copy_never_dedups_against_a_planted_target_copy(tmp_path: Path) -> None:
    """``copy`` into a repository where an agent planted garbage under the content's id."""
    from keyark.replication import copy_snapshots

    source_url, target_url = str(tmp_path / "source"), str(tmp_path / "target")
    for path in (source_url, target_url):
        ops.init_repository(path, PASSWORD.encode(), pack_size_mib=1).close()
    src = ops.open_repository(source_url, CREDS, cache_dir=tmp_path / "c1")
    files = source_with(tmp_path / "host", {".env": GUESSED, "ca.pem": KNOWN})
    made = backup(src, BackupOptions([str(files)]), OperationContext())
    target = ops.open_repository(target_url, CREDS, cache_dir=tmp_path / "c2")
    add_agent(target, "web1", tmp_path / "web1.cred")
    target.close()
    planted = plant(target_url, tmp_path / "web1.cred")
    target = ops.open_repository(target_url, CREDS, cache_dir=tmp_path / "c2")
    target.blobs.load_index()
    assert {
        c.pack_id for c in target.blobs.index.candidates(target.blobs.hasher(GUESSED))
    } & planted
    summary = copy_snapshots(src, target, [src.snapshots.load(made.snapshot_id)], [])
    assert summary.bytes_added > 0
    fresh = ops.open_repository(target_url, CREDS, cache_dir=tmp_path / "c2")
    fresh.blobs.load_index()
    [copied] = summary.copied
    restore_ok(fresh, copied, tmp_path / "out", files)
    for handle in (src, target, fresh):
        handle.close()
