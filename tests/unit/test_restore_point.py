"""Restore points (issue 17 §2): taken before a restore overwrites anything, rolled back to
when it fails, is cancelled or its data is damaged; their own retention.

Real repositories and real files: each restore runs the catalogue operation on a local
repository. The cancel is triggered by an observed event (the first file the restore
writes), never by a timer. Every claim has its positive control.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import PASSWORD, tree_state
from tests.integration.maint_helpers import operation_context

from keyark import ops
from keyark.cancel import CancelToken
from keyark.crypto.slots import Credentials
from keyark.errors import CancelledError, RestoreError, RestorePointNotFoundError
from keyark.events import Code, Event, ItemDone, OperationWarning
from keyark.maintenance.retention import plan_retention
from keyark.repo.pack import DATA
from keyark.repo.repository import Repository
from keyark.repo.snapshot import SnapshotFilter, filter_snapshots
from keyark.restorer.leftovers import TEMP_PREFIX
from keyark.restorer.restore_point import PATH_PREFIX, TAG, RestorePointRecord

FILES = {"tls/a.crt": b"new cert\n", "tls/a.key": b"new key\n", "tls/sub/b.pem": b"new b\n"}


def _source(root: Path) -> Path:
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data + os.urandom(64))
    return root


def _existing(target: Path) -> Path:
    """A target holding older versions of two snapshot files and one file of its own."""
    (target / "tls").mkdir(parents=True)
    (target / "tls" / "a.crt").write_bytes(b"old cert\n")
    (target / "tls" / "a.key").write_bytes(b"old key\n")
    (target / "tls" / "mine.txt").write_bytes(b"not in the snapshot\n")
    os.chmod(target / "tls" / "a.key", 0o600)
    os.chmod(target / "tls", 0o750)
    for path in (target / "tls" / "a.crt", target / "tls" / "a.key", target / "tls"):
        os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    return target


def _reopened(repo: Repository) -> Repository:
    return ops.open_repository(repo.location, Credentials(passphrase=PASSWORD.encode()))


def _backup(repo: Repository, source: Path) -> str:
    summary = ops.backup(operation_context(repo), ops.BackupOptions(paths=[str(source)]))
    return summary.snapshot_id


def _restore(repo: Repository, source: Path, target: Path, **options: object) -> ops.RestoreSummary:
    """Restore the backup (named by id: a restore point may be newer than it)."""
    with _reopened(repo) as fresh:
        loaded = [fresh.snapshots.load(i) for i in fresh.snapshots.ids()]
    backup = next(s.id for s in loaded if TAG not in s.tags)
    chosen = ops.RestoreOptions(str(target), subpath=str(source), snapshot=backup, **options)  # type: ignore[arg-type]
    return ops.restore(operation_context(repo), chosen)


def _points(repo: Repository) -> list[ops.RestorePoint]:
    return ops.restore_points_list(operation_context(repo), ops.RestorePointsListOptions()).points


def test_restore_over_an_existing_tree_saves_exactly_what_it_changes(
    repo: Repository, tmp_path: Path
) -> None:
    source = _source(tmp_path / "src")
    snapshot_id = _backup(repo, source)
    target = _existing(tmp_path / "out")
    summary = _restore(repo, source, target)
    assert summary.restore_point and not summary.rolled_back
    [point] = _points(repo)
    assert point.snapshot.id == summary.restore_point
    assert point.snapshot.tags == [TAG]
    assert point.snapshot.paths == [PATH_PREFIX + str(target)]
    assert point.record.target == str(target) and point.record.snapshot == snapshot_id
    assert point.record.created == ["tls/sub"]  # the top-most entry the restore created
    # Saved: the two replaced files, the directory's metadata; not the untouched file.
    with _reopened(repo) as fresh:
        tls = _listing(fresh, point.snapshot.tree, [*target.parts[1:], "tls"])
    assert sorted(tls) == ["a.crt", "a.key"]


def _listing(repo: Repository, tree: bytes, parts: list[str]) -> list[str]:
    repo.blobs.load_index()
    nodes = repo.blobs.load_tree(tree)
    for part in parts:
        node = next(n for n in nodes if n.name == part)
        assert node.subtree is not None
        nodes = repo.blobs.load_tree(node.subtree)
    return [n.name for n in nodes]


def test_no_restore_point_into_a_new_target_or_when_not_wanted(
    repo: Repository, tmp_path: Path
) -> None:
    source = _source(tmp_path / "src")
    _backup(repo, source)
    fresh = _restore(repo, source, tmp_path / "new")
    assert fresh.restore_point is None  # nothing existed: nothing to save
    unwanted = _restore(repo, source, _existing(tmp_path / "a"), restore_point=False)
    assert unwanted.restore_point is None
    assert _points(repo) == []
    # Positive control: the same restore over an existing tree takes one.
    wanted = _restore(repo, source, _existing(tmp_path / "b"))
    assert wanted.restore_point is not None and len(_points(repo)) == 1


def test_overwrite_never_changes_nothing_and_takes_no_point(
    repo: Repository, tmp_path: Path
) -> None:
    source = _source(tmp_path / "src")
    _backup(repo, source)
    summary = _restore(repo, source, _existing(tmp_path / "out"), overwrite="never")
    assert summary.restore_point is None


def _corrupt_data(repo: Repository) -> int:
    """Flip one byte inside every data blob stored so far; return how many."""
    with _reopened(repo) as fresh:
        fresh.blobs.load_index()
        locations = [loc for loc in fresh.blobs.index.locations() if loc.kind == DATA]
    for location in locations:
        pack_hex = location.pack_id.hex()
        path = Path(repo.location) / "data" / pack_hex[:2] / pack_hex
        data = bytearray(path.read_bytes())
        data[location.offset + location.length // 2] ^= 0x01
        path.write_bytes(bytes(data))
    return len(locations)


def _warnings(sink_events: list[Event], code: str) -> list[str]:
    return [e.message for e in sink_events if isinstance(e, OperationWarning) and e.code == code]


@pytest.mark.parametrize("restore_point", [True, False], ids=["rolled-back", "control-no-point"])
def test_damaged_data_rolls_the_target_back(
    repo: Repository, tmp_path: Path, restore_point: bool
) -> None:
    source = _source(tmp_path / "src")
    _backup(repo, source)
    assert _corrupt_data(repo) >= 3
    target = _existing(tmp_path / "out")
    before = tree_state(target)
    seen: list[Event] = []
    options = ops.RestoreOptions(
        str(target), subpath=str(source), verify=True, restore_point=restore_point
    )
    with pytest.raises(RestoreError) as raised:
        ops.restore(operation_context(repo, seen.append), options)
    summary: ops.RestoreSummary = raised.value.summary  # type: ignore[attr-defined]
    said = _warnings(seen, Code.RESTORE_ROLLED_BACK)
    if restore_point:
        assert tree_state(target) == before, "the target is as it was before the restore"
        assert summary.rolled_back and len(said) == 1 and "rolled back" in said[0]
        assert "rolled back to restore point" in str(raised.value)
        assert "everything else was restored" not in str(raised.value)
    else:  # positive control: without a restore point the partial restore stays
        assert tree_state(target) != before
        assert not summary.rolled_back and said == []


class CancelOnFirstWrite:
    """An event sink cancelling its token when the restore reports its first written file."""

    def __init__(self) -> None:
        self.token = CancelToken()
        self.events: list[Event] = []
        self.fired = False

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, ItemDone) and event.action in ("updated", "restored"):
            self.fired = True
            self.token.cancel()


def test_cancelled_restore_rolls_back(repo: Repository, tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    for i in range(12):  # packs of 1 MiB: the cancel lands between them
        (source / "tls" / f"extra{i:02}.bin").write_bytes(os.urandom(1024 * 1024))
    _backup(repo, source)
    target = _existing(tmp_path / "out")
    before = tree_state(target)
    sink = CancelOnFirstWrite()
    options = ops.RestoreOptions(str(target), subpath=str(source), report_items=True)
    with pytest.raises(CancelledError):
        ops.restore(operation_context(repo, sink, sink.token), options)
    assert sink.fired, "positive control: the cancel landed after the restore wrote a file"
    assert tree_state(target) == before
    assert not [p for p in target.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    assert len(_warnings(sink.events, Code.RESTORE_ROLLED_BACK)) == 1


def test_rollback_undoes_a_completed_restore(repo: Repository, tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    _backup(repo, source)
    target = _existing(tmp_path / "out")
    before = tree_state(target)
    summary = _restore(repo, source, target, delete=True)
    assert not (target / "tls" / "mine.txt").exists()  # --delete removed it
    assert tree_state(target) != before
    result = ops.rollback(operation_context(repo), ops.RollbackOptions(target=str(target)))
    assert result.restore_point == summary.restore_point and result.removed == 1
    assert tree_state(target) == before
    with pytest.raises(RestorePointNotFoundError):
        ops.rollback(operation_context(repo), ops.RollbackOptions(target=str(tmp_path / "x")))


def test_restore_points_follow_their_own_retention(repo: Repository, tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    _backup(repo, source)
    target = _existing(tmp_path / "out")
    for _ in range(3):
        (target / "tls" / "a.crt").write_bytes(os.urandom(32))  # something to overwrite
        _restore(repo, source, target)
    other = _existing(tmp_path / "other")
    _restore(repo, source, other)
    points = _points(repo)
    assert len(points) == 4
    context = operation_context(repo)
    kept = ops.restore_points_forget(context, ops.RestorePointsForgetOptions(keep_last=1))
    assert len(kept.removed) == 2  # the two older ones of "out"; "other" has one
    left = _points(repo)
    assert {p.record.target for p in left} == {str(target), str(other)}
    assert points[2].snapshot.id in {p.snapshot.id for p in left}  # the newest of "out"
    assert len(repo.snapshots.ids()) == 3  # the backup stays
    aged = ops.RestorePointsForgetOptions(older_than="1h", dry_run=True)
    assert ops.restore_points_forget(context, aged).removed == []


def test_expired_by_age(repo: Repository, tmp_path: Path) -> None:
    from keyark.restorer.restore_points import expired

    source = _source(tmp_path / "src")
    _backup(repo, source)
    _restore(repo, source, _existing(tmp_path / "out"))
    points = _points(repo)
    later = points[0].snapshot.time + timedelta(days=2)
    assert expired(points, None, timedelta(days=1), later) == points
    assert expired(points, None, timedelta(days=3), later) == []


def test_job_forget_never_counts_restore_points(repo: Repository, tmp_path: Path) -> None:
    """A job's forget selects its host and paths and groups by them: restore points of a
    restore over the job's own source are in neither (their paths carry a prefix)."""
    source = _source(tmp_path / "src")
    _backup(repo, source)
    (source / "tls" / "a.crt").write_bytes(b"changed since the backup\n")
    _restore(repo, source, source)  # restore in place, over the backed-up directory
    with _reopened(repo) as fresh:
        snapshots = [fresh.snapshots.load(i) for i in fresh.snapshots.ids()]
    assert len(snapshots) == 2
    job = SnapshotFilter(hosts=[snapshots[0].host], paths=[str(source)])
    selected = filter_snapshots(snapshots, job)
    assert [TAG not in s.tags for s in selected] == [True]  # only the backup
    # Positive control: a restore point's record names the very same path.
    point = next(s for s in snapshots if TAG in s.tags)
    record = RestorePointRecord.of(point)
    assert record is not None and record.target == str(source)
    groups = plan_retention(snapshots, ops.RetentionPolicy(last=1))
    assert len(groups) == 2  # the restore point is a group of its own
