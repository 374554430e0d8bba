"""Silent loss 2 of the reliability review: ``backup`` racing ``key rotate --reencrypt``.

The backup opens the repository (reading the keyring) and only then takes its shared
lock. A ``key rotate --reencrypt`` that runs to completion in that window deletes the
data key the backup read. The window is made deterministic with a hook on the backup's
lock acquisition: the rotation runs (in a second session) right before the backup's lock
is taken. The backup must then either seal with the current key (its snapshot restores
and ``check --read-data`` passes) or fail clearly; never succeed with an unreadable
snapshot. The positive control shows the hook fired inside the window: the key the
backup had read was really gone from the repository before the backup took its lock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.maint_helpers import backup, reopen, write_files
from tests.reliability.helpers import assert_restores, in_other_session, run_before_first_call

from keyark.archiver.backup import BackupOptions
from keyark.archiver.backup import backup as run_backup
from keyark.context import OperationContext
from keyark.errors import KeyarkError
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.rotate import reencrypt
from keyark.repo.repository import Repository


def _rotate_in_other_session(repo: Repository) -> set[bytes]:
    """Run ``key rotate --reencrypt`` to completion in a second session; keys left."""

    def rotate(other: Repository) -> set[bytes]:
        reencrypt(other)
        return set(other.keys.keyring.data_keys)

    return in_other_session(repo, rotate)


def _before_first_lock(
    monkeypatch: pytest.MonkeyPatch, repo: Repository, action: Callable[[], None]
) -> list[object]:
    """Run ``action`` once, right before ``repo`` takes its first lock (records its operation)."""
    return run_before_first_call(monkeypatch, Repository, "lock", action, instance=repo)


def test_backup_racing_reencrypt_seals_with_the_current_key(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_files(tmp_path / "src", {f"k{i}.pem": 30_000 for i in range(12)})
    backup(repo, source, context)  # a first snapshot, so rotation has something to rewrite
    write_files(source, {f"new{i}.pem": 30_000 for i in range(6)})
    key_read_by_backup = repo.keys.keyring.current.key_id
    keys_after_rotation: list[set[bytes]] = []
    fired = _before_first_lock(
        monkeypatch, repo, lambda: keys_after_rotation.append(_rotate_in_other_session(repo))
    )
    try:
        snapshot = backup(repo, source, context)
    except KeyarkError as error:  # failing clearly is acceptable; exit 0 with a bad snapshot is not
        assert fired and str(error)
        return
    # Positive control: the hook fired in the window and the rotation deleted the backup's key.
    assert fired == ["backup"]
    assert keys_after_rotation and key_read_by_backup not in keys_after_rotation[0]

    fresh = reopen(repo)
    try:
        summary = check(fresh, CheckOptions(read_data=True))
        assert not summary.problems, [p.message for p in summary.problems]
        restored = fresh.snapshots.load(snapshot.id)
        assert_restores(fresh, restored, source, tmp_path / "out", context)
    finally:
        fresh.close()


def test_backup_refuses_to_commit_when_its_key_was_replaced_under_it(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key replaced while the backup holds its lock (say, after the lock expired) stops
    the backup before it writes index and snapshot, instead of committing packs sealed
    with a key that is no longer current."""
    from keyark.archiver.archiver import Archiver

    source = write_files(tmp_path / "src", {f"k{i}.pem": 30_000 for i in range(6)})
    original = Archiver.run
    replaced: list[bytes] = []

    def run(self: Archiver, *args: object, **kwargs: object) -> bytes:
        tree = original(self, *args, **kwargs)  # type: ignore[arg-type]
        other = reopen(repo)
        try:  # no lock: what a rotation does once the backup's lock has expired
            replaced.append(other.keys.keyring.rotate().key_id)
            other.keys.save_keyring()
        finally:
            other.close()
        return tree

    monkeypatch.setattr(Archiver, "run", run)
    with pytest.raises(KeyarkError, match="no longer current"):
        run_backup(repo, BackupOptions([str(source)]), context)
    assert replaced  # positive control: the key really changed inside the backup
    assert not reopen(repo).snapshots.ids()
