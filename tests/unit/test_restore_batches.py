"""Restore of many files: reads planned batch by batch, a bounded LRU of directory handles.

Each test shrinks the limit it exercises so a tiny tree crosses it, and checks both
that the limit was crossed (the positive control) and that the restore is exact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import tree_state

from keyark.archiver.backup import BackupOptions, backup
from keyark.catalog.snapshots import find_snapshot
from keyark.context import OperationContext
from keyark.repo.repository import Repository
from keyark.restorer import dirs, reads
from keyark.restorer.dirs import DirHandles
from keyark.restorer.run import RestoreOptions, restore


def _many_files(root: Path) -> Path:
    for d in range(6):
        sub = root / f"g{d % 2}" / f"d{d}"
        sub.mkdir(parents=True)
        for n in range(5):
            (sub / f"f{n}").write_bytes(os.urandom(100 + 37 * n + d))
    (root / "g0" / "empty").write_bytes(b"")
    # Several blobs (the chunker's minimum is 512 KiB): its reads span batches.
    (root / "g1" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    return root


def test_restore_in_small_batches_is_exact(
    repo: Repository, tmp_path: Path, context: OperationContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _many_files(tmp_path / "src")
    backup(repo, BackupOptions([str(source)]), context)
    sizes: list[int] = []
    real_batches = reads.batches

    def counted(*args: object, **kwargs: object) -> object:
        for packs in real_batches(*args, **kwargs):  # type: ignore[arg-type]
            sizes.append(sum(len(users) for per in packs.values() for _, users in per.values()))
            yield packs

    monkeypatch.setattr(reads, "BATCH_FILES", 4)
    monkeypatch.setattr("keyark.restorer.restorer.batches", counted)
    target = tmp_path / "out"
    summary = restore(
        repo, find_snapshot(repo, "latest", context), RestoreOptions(str(target)), context
    )
    assert len(sizes) >= 8  # 31 files with content, 4 a batch
    assert summary.files_restored == 32 and not summary.failed
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
    leftovers = [n for _, _, names in os.walk(target) for n in names if n.startswith(".keyark")]
    assert leftovers == []


def test_batches_never_split_a_file() -> None:
    """A batch closes after the file that reaches a limit, never inside one."""
    planned = [
        (_Job(size), [(_Location(bytes([i, k])), k * 10) for k in range(3)])
        for i, size in enumerate((5, 50, 5, 5))
    ]
    out = list(reads.batches(planned, max_files=100, max_bytes=40))  # type: ignore[arg-type]
    # The second file (50 bytes) closes the first batch; the other two fit in the next.
    assert [sum(len(per) for per in packs.values()) for packs in out] == [6, 6]


class _Node:
    def __init__(self, size: int) -> None:
        self.size = size


class _Entry:
    def __init__(self, size: int) -> None:
        self.node = _Node(size)


class _Job:
    """What :func:`reads.batches` looks at of a job: its entry's size."""

    def __init__(self, size: int) -> None:
        self.entry = _Entry(size)


class _Location:
    """What :func:`reads.add_reads` looks at of a location: its blob and pack."""

    def __init__(self, blob_id: bytes) -> None:
        self.blob_id = blob_id
        self.pack_id = b"p"


def test_directory_handles_evict_unheld_least_recent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dirs, "MAX_OPEN", 8)
    handles = DirHandles(str(tmp_path / "t"))
    try:
        with handles.use(("held", "deep"), create=True) as held_fd:
            for n in range(40):
                with handles.use(("many", f"d{n}"), create=True) as fd:
                    assert os.fstat(fd).st_ino == os.stat(tmp_path / "t" / "many" / f"d{n}").st_ino
                assert len(handles._open) <= 8  # the positive control: eviction ran
            # The held descriptor survived every eviction and still is its directory.
            assert os.fstat(held_fd).st_ino == os.stat(tmp_path / "t" / "held" / "deep").st_ino
        assert ("many", "d39") in handles._open and ("many", "d0") not in handles._open
        assert {("held",), ("held", "deep")} <= handles.created
        assert len(handles.created) == 43  # held, held/deep, many, many/d0..d39
        with handles.use(("many", "d0"), create=True) as fd:  # reopened after eviction
            assert os.fstat(fd).st_ino == os.stat(tmp_path / "t" / "many" / "d0").st_ino
    finally:
        handles.close()
