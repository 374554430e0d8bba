"""Index compaction by prune (issue 18 section 3): many small index files merged into few.

Real repositories on local storage, real agents. Each claim has a positive control:
the fragmented index is really there before, the forged records are really loaded
before, and a record marked trusted in a full-key file really reads as trusted.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import PASSWORD, tree_state

from keyark import ops
from keyark.agents import add_agent, open_agent_repository
from keyark.archiver.backup import BackupOptions, backup
from keyark.backends.local import LocalBackend
from keyark.context import OperationContext
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.slots import Credentials
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.index_compact import (
    EXCESS_INDEX_FILES,
    index_files_needed,
    needs_compaction,
)
from keyark.maintenance.prune import PruneOptions, prune
from keyark.repo.index import PackRecord, decode_index
from keyark.repo.pack import PackEntry
from keyark.repo.repository import Repository
from keyark.restorer.run import RestoreOptions, restore

CREDS = Credentials(passphrase=PASSWORD.encode())


def _open(url: str, tmp: Path) -> Repository:
    return ops.open_repository(url, CREDS, cache_dir=tmp / "cache")


def _tree(root: Path, seed: int) -> Path:
    root.mkdir(parents=True)
    (root / "key.pem").write_bytes(hashlib.sha256(str(seed).encode()).digest() * 50)
    (root / "sub").mkdir()
    (root / "sub" / "cert.pem").write_bytes(f"cert {seed}\n".encode() * 20)
    return root


class Fleet:
    """A repository that full-key backups and agent runs left with many index files."""

    def __init__(self, tmp: Path, full_runs: int = 6, agent_runs: int = 6) -> None:
        self.tmp = tmp
        self.url = str(tmp / "repo")
        ops.init_repository(self.url, PASSWORD.encode(), pack_size_mib=1).close()
        self.sources: dict[str, Path] = {}
        repo = _open(self.url, tmp)
        self.credential = tmp / "web.cred"
        add_agent(repo, "web", self.credential, hosts=["web"])
        for run in range(full_runs):
            source = _tree(tmp / "src" / f"full{run}", run)
            summary = backup(repo, BackupOptions([str(source)], host="db"), OperationContext())
            assert summary.snapshot_id
            self.sources[summary.snapshot_id] = source
        repo.close()
        for run in range(agent_runs):
            source = _tree(tmp / "src" / f"agent{run}", 1000 + run)
            agent = open_agent_repository(self.url, self.credential)
            try:
                ctx = OperationContext(cache_dir=tmp / "agent-cache")
                summary = backup(agent, replace(BackupOptions(), paths=[str(source)]), ctx)
            finally:
                agent.close()
            assert summary.snapshot_id
            self.sources[summary.snapshot_id] = source

    def index_files(self) -> list[str]:
        return sorted(p.name for p in (self.tmp / "repo" / "index").rglob("*") if p.is_file())

    def listing(self) -> set[tuple[bytes, bool, int, frozenset[PackEntry]]]:
        """Every pack the index lists: (id, trusted, size, entries), as a full-key reader sees."""
        repo = _open(self.url, self.tmp)
        try:
            found: dict[bytes, PackRecord] = {}
            for name in repo.packs.index_names():
                for record in repo.blobs.read_index_file(name):
                    known = found.get(record.pack_id)
                    if known is None or (record.trusted and not known.trusted):
                        found[record.pack_id] = record
            return {(r.pack_id, r.trusted, r.size, frozenset(r.entries)) for r in found.values()}
        finally:
            repo.close()

    def problems(self) -> set[tuple[str, str]]:
        """What check --read-data reports: (object, message)."""
        repo = _open(self.url, self.tmp)
        try:
            return {
                (p.object, p.message) for p in check(repo, CheckOptions(read_data=True)).problems
            }
        finally:
            repo.close()

    def verify(self, problems: frozenset[tuple[str, str]] = frozenset()) -> None:
        """check --read-data finds only ``problems`` and every snapshot restores exactly."""
        assert self.problems() == problems
        repo = _open(self.url, self.tmp)
        try:
            for number, (snapshot_id, source) in enumerate(self.sources.items()):
                target = self.tmp / f"restored-{number}-{len(list(self.tmp.iterdir()))}"
                snapshot = repo.snapshots.load(snapshot_id)
                restore(repo, snapshot, RestoreOptions(str(target)), OperationContext())
                assert tree_state(target / str(source).lstrip("/")) == tree_state(source)
        finally:
            repo.close()


def test_thresholds() -> None:
    assert index_files_needed(0) == 0
    assert index_files_needed(1) == 1
    assert index_files_needed(64) == 1
    assert index_files_needed(65) == 2
    assert not needs_compaction(EXCESS_INDEX_FILES + 1, 10)
    assert needs_compaction(EXCESS_INDEX_FILES + 2, 10)
    assert not needs_compaction(2 + EXCESS_INDEX_FILES, 65)


def test_prune_compacts_a_fragmented_index(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    before = fleet.index_files()
    listing = fleet.listing()
    assert len(before) > index_files_needed(len(listing)) + EXCESS_INDEX_FILES  # control
    assert any(not trusted for _p, trusted, _s, _e in listing)  # agents' packs included

    repo = _open(fleet.url, tmp_path)
    dry = prune(repo, PruneOptions(dry_run=True))
    assert dry.plan.compacts_index and dry.plan.to_dict()["index_files"] == len(before)
    assert fleet.index_files() == before  # a dry run changes nothing

    summary = prune(repo, PruneOptions())
    repo.close()
    after = fleet.index_files()
    assert summary.packs_deleted == 0 and summary.index_files_deleted == len(before)
    assert len(after) == index_files_needed(len(listing)) == summary.index_files_written
    assert not set(after) & set(before)
    assert fleet.listing() == listing  # every pack, its entries and its trust kept
    fleet.verify()

    repo = _open(fleet.url, tmp_path)
    again = prune(repo, PruneOptions())
    repo.close()
    assert again.plan.nothing_to_do and fleet.index_files() == after


def test_a_tidy_index_is_left_alone(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, full_runs=2, agent_runs=1)
    before = fleet.index_files()
    assert not needs_compaction(len(before), len(fleet.listing()))
    repo = _open(fleet.url, tmp_path)
    summary = prune(repo, PruneOptions())
    repo.close()
    assert summary.plan.nothing_to_do and summary.index_files_written == 0
    assert fleet.index_files() == before


def _forge(fleet: Fleet, records: list[PackRecord]) -> str:
    """An agent writes an index file of its choosing, sealed with its session key."""
    agent = open_agent_repository(fleet.url, fleet.credential)
    try:
        agent.store_session_key()
        return agent.blobs.packs.write_index(records)
    finally:
        agent.close()


def test_compaction_never_launders_a_forged_index(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, full_runs=6, agent_runs=4)
    repo = _open(fleet.url, tmp_path)
    repo.blobs.load_index()
    data_key = next(iter(repo.keys.keyring.data_keys))
    packs = repo.blobs.index.packs()
    trusted_pack = next(p for p in packs if repo.blobs.index.pack_key(p) == data_key)
    agent_pack = next(p for p in packs if repo.blobs.index.pack_key(p) != data_key)
    repo.close()
    fake = hashlib.sha256(b"a blob id the agent wants trusted").digest()
    entry = PackEntry(1, fake, 0, 16, 16, 0)
    # (1) its own pack claimed trusted and sealed by the data key; (2) extra entries
    # injected into a full-key pack; (3) a pack that is not stored.
    forged = [
        PackRecord(agent_pack, packs[agent_pack], [entry], data_key, True),
        PackRecord(trusted_pack, packs[trusted_pack], [entry], data_key, True),
        PackRecord(hashlib.sha256(b"nowhere").digest(), 999, [entry], data_key, True),
    ]
    forged_name = _forge(fleet, forged)

    assert forged_name.rsplit("/", maxsplit=1)[-1] in fleet.index_files()
    repo = _open(fleet.url, tmp_path)
    repo.blobs.load_index()
    assert fake in repo.blobs.index  # control: the forged records are loaded...
    assert not repo.blobs.index.has_trusted(fake)  # ...as untrusted
    repo.close()
    before = fleet.problems()  # check reports the forged records (control)
    agent_object = f"data/{agent_pack.hex()[:2]}/{agent_pack.hex()}"
    assert agent_object in {obj for obj, _message in before}
    repo = _open(fleet.url, tmp_path)
    summary = prune(repo, PruneOptions())
    assert summary.plan.compacts_index
    assert forged_name.rsplit("/", maxsplit=1)[-1] not in fleet.index_files()
    repo.close()

    repo = _open(fleet.url, tmp_path)
    repo.blobs.load_index()
    assert not repo.blobs.index.has_trusted(fake)
    # Not in the full-key pack, not in a missing one, and not in the agent's own pack: the
    # forged record named another key than the pack's, so the pack's header decided.
    assert list(repo.blobs.index.candidates(fake)) == []
    records = [r for n in repo.packs.index_names() for r in repo.blobs.read_index_file(n)]
    assert all(fake not in {e.blob_id for e in r.entries} for r in records if r.trusted)
    # Positive control: the same record in a full-key file DOES read as trusted, so the
    # assertions above would catch compaction granting trust.
    control = repo.packs.write_index([forged[0]])
    assert any(r.trusted for r in repo.blobs.read_index_file(control))
    repo.packs.delete_index(control)
    repo.close()
    # Nothing forged is left to report, and every snapshot restores: the result no longer
    # depends on the order the index files were read in (it once lost the agent pack's key).
    assert fleet.problems() == set()
    fleet.verify()


def test_an_unreadable_agent_index_file_is_left_in_place(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    garbage = b"\x00" * 64 + b"not an index file"
    name = f"index/{hashlib.sha256(garbage).hexdigest()}"
    LocalBackend(tmp_path / "repo").put(name, garbage)
    repo = _open(fleet.url, tmp_path)
    summary = prune(repo, PruneOptions())
    repo.close()
    assert summary.plan.skipped_index and summary.plan.compacts_index
    assert name.rsplit("/", maxsplit=1)[-1] in fleet.index_files()  # not read, so never deleted
    assert len(fleet.index_files()) == summary.index_files_written + 1


@pytest.mark.parametrize("full_runs", [EXCESS_INDEX_FILES + 4])
def test_compaction_after_forget_keeps_what_is_left(tmp_path: Path, full_runs: int) -> None:
    fleet = Fleet(tmp_path, full_runs=full_runs, agent_runs=0)
    repo = _open(fleet.url, tmp_path)
    first = next(iter(fleet.sources))
    repo.snapshots.delete(first)
    del fleet.sources[first]
    summary = prune(repo, PruneOptions())
    repo.close()
    assert summary.packs_deleted >= 1
    assert len(fleet.index_files()) == summary.index_files_written == 1
    fleet.verify()


def test_only_the_first_new_file_names_the_superseded_files(tmp_path: Path) -> None:
    """Naming every old file in every new one grows as new x old files (47 KB a file
    for 660 old files in the load test); restic names them in the first file only."""
    fleet = Fleet(tmp_path, full_runs=2, agent_runs=36)
    before = fleet.index_files()
    packs = len(fleet.listing())
    assert index_files_needed(packs) >= 2  # control: the rewrite writes several files
    repo = _open(fleet.url, tmp_path)
    prune(repo, PruneOptions())
    named: list[int] = []
    for name in sorted(repo.packs.index_names()):
        plain = repo.keys.open_object(ObjectKind.INDEX, b"", repo.packs.read_index_bytes(name))
        named.append(len(decode_index(plain)[1]))
    repo.close()
    assert len(named) == index_files_needed(packs)
    assert sorted(named) == [0] * (len(named) - 1) + [len(before)]
