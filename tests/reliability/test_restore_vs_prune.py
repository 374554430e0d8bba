"""Silent loss 4 of the reliability review: ``prune`` deleting packs under a running ``restore``.

The restore is paused deterministically at the moment it has planned its work and is about to
read packs (a hook on ``Restorer.run``); a prune that makes every pack obsolete (forget of the
snapshot being restored, then ``--max-unused 0``) runs in that moment. With restore's shared
lock, prune is refused and the restore writes every file. The positive control runs the same
sequence through the unlocked body of restore and shows that prune then does delete the packs
and the restore loses files, so the test can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import PASSWORD
from tests.integration.maint_helpers import backup, write_files
from tests.reliability.helpers import assert_restores, in_other_session, run_before_first_call

from keyark import ops
from keyark.context import OperationContext
from keyark.errors import LockError, RestoreError
from keyark.maintenance.prune import PruneOptions, prune
from keyark.replication import Copier, copy_snapshots
from keyark.repo.repository import Repository
from keyark.restorer import run
from keyark.restorer.restorer import Restorer
from keyark.restorer.run import RestoreOptions
from keyark.units import UnusedLimit


def _forget_and_prune(repo: Repository, snapshot_id: str) -> int:
    """In a second session: forget ``snapshot_id`` and prune everything; packs deleted."""

    def forget_and_prune(other: Repository) -> int:
        other.snapshots.delete(snapshot_id)
        return prune(other, PruneOptions(max_unused=UnusedLimit(percent=0))).packs_deleted

    return in_other_session(repo, forget_and_prune)


def _hook_run(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> list[object]:
    """Run ``action`` when the restore has planned its work, before it reads any pack."""
    return run_before_first_call(monkeypatch, Restorer, "run", action)


def test_prune_cannot_delete_packs_under_a_restore(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_files(tmp_path / "src", {f"k{i}.pem": 40_000 for i in range(30)})
    snapshot = backup(repo, source, context)
    refused: list[BaseException] = []

    def racing_prune() -> None:
        try:
            _forget_and_prune(repo, snapshot.id)
        except LockError as error:
            refused.append(error)

    fired = _hook_run(monkeypatch, racing_prune)
    summary = assert_restores(repo, snapshot, source, tmp_path / "out", context)
    assert fired and refused, "the racing prune must have run inside the restore and been refused"
    assert summary.files_restored == 30


def test_positive_control_unlocked_restore_loses_files(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_files(tmp_path / "src", {f"k{i}.pem": 40_000 for i in range(30)})
    snapshot = backup(repo, source, context)
    deleted: list[int] = []
    fired = _hook_run(monkeypatch, lambda: deleted.append(_forget_and_prune(repo, snapshot.id)))
    options = RestoreOptions(target=str(tmp_path / "out"))
    with pytest.raises(RestoreError):
        run._restore_locked(repo, snapshot, options, context)  # no lock taken
    assert fired and deleted and deleted[0] > 0


def test_prune_cannot_delete_source_packs_under_a_copy(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``copy`` holds a shared lock on its source, so a prune there is refused meanwhile."""
    source = write_files(tmp_path / "src", {f"k{i}.pem": 40_000 for i in range(30)})
    snapshot = backup(repo, source, context)
    target = ops.init_repository(str(tmp_path / "target"), PASSWORD.encode())
    refused: list[BaseException] = []

    def racing_prune() -> None:
        try:
            _forget_and_prune(repo, snapshot.id)
        except LockError as error:
            refused.append(error)

    fired = run_before_first_call(monkeypatch, Copier, "copy_tree", racing_prune)
    try:
        summary = copy_snapshots(repo, target, [snapshot], [])
        copied = target.snapshots.load(summary.copied[0])
        assert fired and refused, "the racing prune must have run inside the copy and been refused"
        assert_restores(target, copied, source, tmp_path / "out", context)
    finally:
        target.close()
