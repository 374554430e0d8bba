"""Cancelling a backup or a restore (issue 10 section 4): stopped at a checkpoint, lock released.

Each run is cancelled from the event sink when a progress event with bytes done is
observed (never by a timer), so the cancel lands in the middle of the work. Afterwards
no lock object is left and the repository checks clean. A cancelled backup leaves what
it uploaded for the next one, which adopts it: of the blobs that had reached storage,
the next backup uploads at most 10% again (measured by pack headers, as in
``test_resume.py``); the positive control, with adoption disabled, uploads most of them
again. A cancelled restore removes its temporary files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import PASSWORD, tree_state
from tests.integration.maint_helpers import operation_context

from keyark import ops
from keyark.cancel import CancelToken
from keyark.crypto.slots import Credentials
from keyark.errors import CancelledError
from keyark.events import Event, Progress
from keyark.repo import adoption
from keyark.repo.locks import LOCK_PREFIX
from keyark.repo.repository import Repository
from keyark.restorer.leftovers import TEMP_PREFIX

MIB = 1024 * 1024
FILES = 6
FILE_SIZE = 4 * MIB
#: Cancel the backup once this much was read: about half, with ~12 packs of 1 MiB stored
#: (below the 16 packs after which a writer indexes them: resuming needs adoption).
CANCEL_AT = 12 * MIB
#: The next backup may upload at most this share of what had reached storage again.
ALLOWED = 0.10


class CancelAt:
    """An event sink that cancels its token at the first progress with ``bytes`` done."""

    def __init__(self, phase: str, bytes_done: int) -> None:
        self.phase = phase
        self.bytes_done = bytes_done
        self.token = CancelToken()
        self.fired: Progress | None = None
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if (
            self.fired is None
            and isinstance(event, Progress)
            and event.phase == self.phase
            and event.bytes_done >= self.bytes_done
        ):
            self.fired = event
            self.token.cancel()


def _source(root: Path) -> Path:
    root.mkdir()
    for i in range(FILES):
        (root / f"key{i}.bin").write_bytes(os.urandom(FILE_SIZE))
    return root


def _packs(repo: Repository) -> set[bytes]:
    """The complete packs in storage (temporary objects are not listed as packs)."""
    with reopened(repo) as fresh:
        return set(fresh.stored_packs())


def reopened(repo: Repository) -> Repository:
    return ops.open_repository(repo.location, Credentials(passphrase=PASSWORD.encode()))


def _blobs(repo: Repository, packs: set[bytes]) -> dict[bytes, int]:
    """Blob id -> stored length of every blob the packs ``packs`` hold."""
    with reopened(repo) as fresh:
        return {
            entry.blob_id: entry.length
            for pack_id in packs
            for entry in fresh.blobs.read_pack_header(pack_id)
        }


def _locks(repo: Repository) -> list[str]:
    with reopened(repo) as fresh:
        return [info.name for info in fresh.backend.list(LOCK_PREFIX)]


def _assert_checks_clean(repo: Repository) -> None:
    summary = ops.check(operation_context(repo), ops.CheckOptions(read_data=True))
    assert summary.ok, summary.problems


@pytest.mark.parametrize("adopt", [True, False], ids=["adoption", "control-no-adoption"])
def test_cancelled_backup_releases_its_lock_and_resumes(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adopt: bool
) -> None:
    source = _source(tmp_path / "src")
    options = ops.BackupOptions(paths=[str(source)])
    sink = CancelAt("backup", CANCEL_AT)
    with pytest.raises(CancelledError):
        ops.backup(operation_context(repo, sink, sink.token), options)
    assert sink.fired is not None, "positive control: the cancel landed during the backup"
    assert sink.fired.bytes_done < FILES * FILE_SIZE
    assert _locks(repo) == [], "the lock object must be deleted"
    assert not list(Path(repo.location).rglob(".tmp-*")), "no temporary object may be left"
    stored = _packs(repo)
    assert len(stored) >= 4, "some packs reached storage before the cancel"
    _assert_checks_clean(repo)
    with reopened(repo) as fresh:
        assert fresh.snapshots.ids() == [], "a cancelled backup saves no snapshot"

    before = _blobs(repo, stored)
    if not adopt:
        monkeypatch.setattr(adoption, "find_unindexed", lambda repo: {})
    summary = ops.backup(operation_context(repo), options)
    assert summary.complete and summary.snapshot_id
    again = _blobs(repo, _packs(repo) - stored)
    reached = sum(before.values())
    uploaded_again = sum(length for blob, length in again.items() if blob in before)
    if adopt:
        assert uploaded_again <= ALLOWED * reached, f"re-uploaded {uploaded_again} of {reached}"
        _assert_checks_clean(repo)
        target = tmp_path / "out"
        ops.restore(operation_context(repo), ops.RestoreOptions(str(target)))
        assert tree_state(target / source.relative_to("/")) == tree_state(source)
    else:
        assert uploaded_again > 0.5 * reached, "positive control: without adoption it starts over"


def test_cancelled_restore_releases_its_lock_and_removes_temporaries(
    repo: Repository, tmp_path: Path
) -> None:
    source = _source(tmp_path / "src")
    ops.backup(operation_context(repo), ops.BackupOptions(paths=[str(source)]))
    target = tmp_path / "out"
    sink = CancelAt("restore", 1)
    with pytest.raises(CancelledError):
        ops.restore(operation_context(repo, sink, sink.token), ops.RestoreOptions(str(target)))
    assert sink.fired is not None, "positive control: the cancel landed during the restore"
    assert sink.fired.files_done < FILES
    assert _locks(repo) == [], "the lock object must be deleted"
    assert not [p for p in target.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    _assert_checks_clean(repo)
    # The same restore without a cancel completes (the trigger fires there too).
    again = CancelAt("restore", 1)
    summary = ops.restore(operation_context(repo, again), ops.RestoreOptions(str(target)))
    assert again.fired is not None and summary.files_restored == FILES
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
