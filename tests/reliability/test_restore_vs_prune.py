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
from tests.conftest import tree_state
from tests.integration.maint_helpers import backup, reopen, write_files

from keyark import ops
from keyark.errors import LockError, RestoreError
from keyark.maintenance.prune import PruneOptions, prune
from keyark.repo.repository import Repository
from keyark.restorer.restorer import Restorer
from keyark.units import UnusedLimit


def _forget_and_prune(repo: Repository, snapshot_id: str) -> int:
    """In a second session: forget ``snapshot_id`` and prune everything; packs deleted."""
    other = reopen(repo)
    try:
        other.delete_snapshot(snapshot_id)
        return prune(other, PruneOptions(max_unused=UnusedLimit(percent=0))).packs_deleted
    finally:
        other.close()


def _hook_run(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> list[bool]:
    fired: list[bool] = []
    original = Restorer.run

    def run(self: Restorer, *args: object, **kwargs: object) -> None:
        fired.append(True)
        action()
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Restorer, "run", run)
    return fired


def test_prune_cannot_delete_packs_under_a_restore(
    repo: Repository, context: ops.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
    target = tmp_path / "out"
    summary = ops.restore(repo, snapshot, ops.RestoreOptions(target=str(target)), ctx=context)
    assert fired and refused, "the racing prune must have run inside the restore and been refused"
    assert summary.files_restored == 30
    assert tree_state(target / source.relative_to("/")) == tree_state(source)


def test_positive_control_unlocked_restore_loses_files(
    repo: Repository, context: ops.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_files(tmp_path / "src", {f"k{i}.pem": 40_000 for i in range(30)})
    snapshot = backup(repo, source, context)
    deleted: list[int] = []
    fired = _hook_run(monkeypatch, lambda: deleted.append(_forget_and_prune(repo, snapshot.id)))
    options = ops.RestoreOptions(target=str(tmp_path / "out"))
    with pytest.raises(RestoreError):
        ops._restore_locked(repo, snapshot, options, context, None)  # no lock taken
    assert fired and deleted and deleted[0] > 0
