"""Prune through the typed operations: plan, repack, orphans, refusals, crash safety."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import tree_state
from tests.integration.maint_helpers import (
    backup,
    file_blobs,
    objects,
    pack_ids,
    reopen,
    restored_state,
    write_files,
)

from keyark.backends.base import Backend, Capabilities, ObjectInfo
from keyark.errors import Hint, IntegrityError
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.forget import ForgetOptions, forget
from keyark.maintenance.prune import PruneOptions, prune
from keyark.maintenance.retention import RetentionPolicy
from keyark.repo.index import MasterIndex
from keyark.repo.locks import lock_sealer, remove_locks
from keyark.repo.pack import BLOB_KINDS, DATA, pack_name
from keyark.repo.packer import Packer
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.units import UnusedLimit

KIB = 1024


def history(
    repo: Repository, tmp_path: Path, rounds: int = 4
) -> list[tuple[Snapshot, dict[str, tuple[object, ...]]]]:
    """Backups of a changing tree; returns each snapshot with the state it saved."""
    source = tmp_path / "src"
    files = {f"d{i % 3}/f{i}": 90 * KIB + i for i in range(12)}
    write_files(source, files)
    saved = []
    for round_ in range(rounds):
        for i in range(round_ * 3, round_ * 3 + 3):  # rewrite a quarter of the files
            write_files(source, {f"d{i % 3}/f{i % 12}": 90 * KIB + i})
        snapshot = backup(repo, source)
        saved.append((snapshot, tree_state(source)))
    return saved


def assert_healthy(
    repo: Repository,
    tmp_path: Path,
    expected: list[tuple[Snapshot, dict[str, tuple[object, ...]]]],
) -> None:
    fresh = reopen(repo)
    try:
        summary = check(fresh, CheckOptions(read_data=True))
        assert summary.ok, summary.problems
        ids = set(fresh.snapshots.ids())
        for n, (snapshot, state) in enumerate(expected):
            if snapshot.id in ids:
                target = tmp_path / f"restore-{n}-{len(list(tmp_path.iterdir()))}"
                assert restored_state(fresh, snapshot, target) == state
    finally:
        fresh.close()


def test_forget_then_prune_frees_space_and_keeps_the_rest(repo: Repository, tmp_path: Path) -> None:
    saved = history(repo, tmp_path)
    before = sum(objects(repo).values())
    result = forget(repo, ForgetOptions(policy=RetentionPolicy(last=2)))
    assert len(result.removed) == 2
    summary = prune(repo, PruneOptions(max_unused=UnusedLimit(percent=0)))
    assert summary.packs_deleted > 0 and summary.bytes_freed > 0
    assert sum(objects(repo).values()) < before
    assert summary.plan.unused_after == 0
    assert_healthy(repo, tmp_path, saved)
    # Nothing is left to do.
    again = prune(reopen(repo), PruneOptions(max_unused=UnusedLimit(percent=0)))
    assert again.plan.nothing_to_do and again.packs_deleted == 0


def test_dry_run_changes_nothing(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    forget(repo, ForgetOptions(policy=RetentionPolicy(last=1)))
    before = objects(repo)
    summary = prune(repo, PruneOptions(dry_run=True))
    assert summary.dry_run and summary.plan.estimated_freed() > 0
    assert summary.plan.delete or summary.plan.repack
    assert objects(repo) == before


def test_repack_keeps_used_blobs_and_drops_unused(repo: Repository, tmp_path: Path) -> None:
    source = write_files(tmp_path / "src", {"keep.bin": 100 * KIB, "drop.bin": 100 * KIB})
    first = backup(repo, source)
    (source / "drop.bin").unlink()
    second = backup(repo, source)
    state = tree_state(source)
    keep_blob = file_blobs(repo, second)[f"{source}/keep.bin"][0]
    old_pack = repo.blobs.index.get(keep_blob).pack_id  # type: ignore[union-attr]
    forget(repo, ForgetOptions(ids=[first.id]))
    # 5% unused is tolerated: a 100 KiB unused blob next to a 100 KiB used one is not.
    kept = prune(repo, PruneOptions(max_unused=UnusedLimit(percent=None)))
    assert not kept.plan.repack and old_pack in pack_ids(repo)
    summary = prune(reopen(repo), PruneOptions())
    assert old_pack in summary.plan.repack
    assert summary.blobs_repacked >= 1 and summary.packs_written >= 1
    assert old_pack not in pack_ids(repo)
    fresh = reopen(repo)
    fresh.blobs.load_index()
    assert fresh.blobs.index.get(keep_blob).pack_id != old_pack  # type: ignore[union-attr]
    assert restored_state(fresh, second, tmp_path / "out") == state
    assert check(fresh, CheckOptions(read_data=True)).ok


def test_max_repack_size_limits_repacking(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    forget(repo, ForgetOptions(policy=RetentionPolicy(last=1)))
    full = prune(repo, PruneOptions(max_unused=UnusedLimit(percent=0), dry_run=True))
    assert full.plan.repack
    limited = prune(repo, PruneOptions(max_unused=UnusedLimit(0), max_repack_size=1, dry_run=True))
    assert not limited.plan.repack
    assert limited.plan.unused_after > full.plan.unused_after


def test_unindexed_packs_are_harmless_then_pruned(repo: Repository, tmp_path: Path) -> None:
    saved = history(repo, tmp_path, rounds=1)
    # A killed backup: a pack is uploaded, its index never written.
    packer = Packer(repo.backend, MasterIndex(), repo.blobs.current_sealer, repo.config.pack_size)
    blob = b"left behind" * 1000
    blob_id = repo.blobs.hasher(blob)
    sealed = repo.blobs.current_sealer().seal_bare(BLOB_KINDS[DATA], blob_id, blob)
    packer.add(DATA, blob_id, sealed, len(blob), 0)
    packer._maybe_write_index = lambda force=False: None  # type: ignore[method-assign]
    packer.flush()
    packer.close()
    orphan = next(iter(pack_ids(repo) - set(repo.blobs.index.packs())))
    summary = check(reopen(repo))
    assert summary.ok
    notes = [p for p in summary.problems if p.harmless and "not in any index" in p.message]
    assert [p.object for p in notes] == [pack_name(orphan)]
    pruned = prune(reopen(repo), PruneOptions())
    assert orphan in pruned.plan.orphans and pruned.packs_deleted == 1
    assert orphan not in pack_ids(repo)
    assert_healthy(repo, tmp_path, saved)


def test_refuses_when_a_pack_is_missing(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    forget(repo, ForgetOptions(policy=RetentionPolicy(last=1)))
    victim = sorted(repo.blobs.index.packs())[0]
    repo.backend.delete(pack_name(victim))
    before = objects(repo)
    with pytest.raises(IntegrityError, match=r"missing from storage.*deleted nothing") as error:
        prune(reopen(repo), PruneOptions())
    assert error.value.hint is Hint.REPAIR  # check, then repair index and snapshots
    assert objects(repo) == before


def test_refuses_when_a_snapshot_needs_a_blob_the_index_lacks(
    repo: Repository, tmp_path: Path
) -> None:
    history(repo, tmp_path, rounds=2)
    for name in [n for n in objects(repo) if n.startswith("index/")]:
        repo.backend.delete(name)
    before = objects(repo)
    with pytest.raises(IntegrityError, match=r"not in the index.*deleted nothing") as error:
        prune(reopen(repo), PruneOptions())
    assert error.value.hint is Hint.REPAIR
    assert objects(repo) == before


def test_duplicate_blobs_are_collapsed(repo: Repository, tmp_path: Path) -> None:
    source = write_files(tmp_path / "src", {"a": 50 * KIB, "b": 60 * KIB})
    state = tree_state(source)
    # A second session whose index predates the backup stores the same blobs again
    # (as two backups running at once do).
    other = reopen(repo)
    other.blobs.load_index()
    first = backup(repo, source)
    for name in ("a", "b"):  # files under the minimum chunk size are one blob each
        other.blobs.save_blob(DATA, (source / name).read_bytes())
    other.blobs.flush()
    other.close()
    second = backup(repo, source)
    fresh = reopen(repo)
    summary = check(fresh)
    assert summary.ok and any("more than once" in p.message for p in summary.problems)
    pruned = prune(fresh, PruneOptions())
    assert pruned.plan.delete or pruned.plan.repack
    final = reopen(repo)
    summary = check(final, CheckOptions(read_data=True))
    assert summary.ok and not any("more than once" in p.message for p in summary.problems)
    for n, snapshot in enumerate((first, second)):
        assert restored_state(final, snapshot, tmp_path / f"out{n}") == state


# --------------------------------------------------------------------- crash safety
class CrashError(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing catches it."""


class CrashingBackend:
    """Forwards to ``inner``; the ``crash_at``-th change (put/delete outside locks/) dies."""

    def __init__(self, inner: Backend, crash_at: int) -> None:
        self.inner = inner
        self.crash_at = crash_at
        self.changes = 0

    def _change(self, name: str) -> None:
        if name.startswith("locks/"):
            return
        if self.changes == self.crash_at:
            raise CrashError(name)
        self.changes += 1

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        self._change(name)
        self.inner.put(name, data, overwrite=overwrite)

    def delete(self, name: str) -> None:
        self._change(name)
        self.inner.delete(name)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.get(name, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        return self.inner.stat(name)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def close(self) -> None:
        pass

    def capabilities(self) -> Capabilities:
        return self.inner.capabilities()

    def location(self) -> str:
        return self.inner.location()


def test_crash_at_every_change_leaves_a_consistent_repository(
    repo: Repository, tmp_path: Path
) -> None:
    """Kill prune before each of its writes and deletes in turn: always consistent."""
    saved = history(repo, tmp_path)
    forget(repo, ForgetOptions(policy=RetentionPolicy(last=2)))
    pristine = tmp_path / "pristine"
    root = Path(repo.backend.location())
    shutil.copytree(root, pristine)
    crash_at = 0
    while True:
        shutil.rmtree(root)
        shutil.copytree(pristine, root)
        base = reopen(repo)
        crashing = CrashingBackend(base.backend, crash_at)
        victim = Repository(
            crashing, base.config, base.keys.keyring, base.keys.root_key, base.keys.slot
        )
        try:
            prune(victim, PruneOptions(max_unused=UnusedLimit(percent=0)))
        except CrashError:
            pass
        else:
            break  # prune finished before reaching this change: every point was covered
        # The "killed" process left its lock behind; a real kill leaves a stale one.
        remove_locks(base.backend, lock_sealer(base.keys.keyring.id_key), remove_all=True)
        summary = check(reopen(repo), CheckOptions(read_data=True))
        assert summary.ok, (crash_at, summary.problems)
        # Running prune again finishes the job.
        finished = prune(reopen(repo), PruneOptions(max_unused=UnusedLimit(percent=0)))
        assert finished.plan.unused_after == 0
        assert prune(reopen(repo), PruneOptions(max_unused=UnusedLimit(0))).plan.nothing_to_do
        assert_healthy(repo, tmp_path, saved[-2:])
        crash_at += 1
    assert crash_at > 5  # packs written, index written, old index and packs deleted
    assert_healthy(repo, tmp_path, saved[-2:])
