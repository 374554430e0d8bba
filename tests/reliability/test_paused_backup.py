"""Silent loss 3 of the reliability review: a backup paused past its lock's expiry.

A backup stopped (Ctrl-Z, a suspended laptop, a paused VM) after uploading packs but
before indexing them lost its lock to expiry; a ``prune`` in that window (correctly)
deleted the unindexed packs; the backup resumed and saved a snapshot naming them.

The pause is deterministic: a hook in the packer right before the index write waits
on an event. The lock's expiry is passed with a clock (the lock module's ``time``) moved
forward by more than ``EXPIRY_SECONDS``, so no test waits for real time; the background
refresh (every ``REFRESH_SECONDS`` = 2 minutes) stays asleep during the test, as it
would in a stopped process. On resume the refresh is run first (the trap: it must not
renew a lock that already expired), then the backup continues and must fail with the
clear error, saving nothing. The positive control runs the same sequence with the
write guard disabled: the backup then saves a snapshot that ``check`` reports broken.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.maint_helpers import backup, pack_ids, reopen, write_files
from tests.reliability.helpers import assert_restores

from keyark.context import OperationContext
from keyark.crypto.envelope import envelope_key_id
from keyark.errors import BackendError, IntegrityError, LockError
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.prune import PruneOptions, prune
from keyark.repo import locks
from keyark.repo.blob_writer import BlobWriter
from keyark.repo.index import PackRecord
from keyark.repo.locks import RepositoryLock
from keyark.repo.pack import TRAILER_SIZE, header_span, pack_name, parse_header
from keyark.repo.repository import Repository


class Clock:
    """Stands in for the ``time`` module inside ``keyark.repo.locks``: wall time + offset."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(locks, "time", fake)
    return fake


class PausedBackup:
    """A backup in a thread, paused by a hook right before its first index write."""

    def __init__(self, repo: Repository, source: Path, context: OperationContext) -> None:
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.error: BaseException | None = None
        self.snapshot_id = ""
        self._thread = threading.Thread(target=self._run, args=(repo, source, context))

    def hook(self, original: Callable[[BlobWriter, list[PackRecord]], None]) -> Callable[..., None]:
        def before_index(blobs: BlobWriter, records: list[PackRecord]) -> None:
            if not self.paused.is_set():
                self.paused.set()
                assert self.resume.wait(120), "the test never resumed the backup"
            original(blobs, records)

        return before_index

    def _run(self, repo: Repository, source: Path, context: OperationContext) -> None:
        try:
            self.snapshot_id = backup(repo, source, context).id
        except BaseException as error:  # the thread reports, the test asserts
            self.error = error

    def start(self) -> None:
        self._thread.start()
        assert self.paused.wait(120), self.error

    def finish(self) -> None:
        self.resume.set()
        self._thread.join(120)
        assert not self._thread.is_alive()


def _problems(repo: Repository) -> list[str]:
    fresh = reopen(repo)
    try:
        summary = check(fresh, CheckOptions(read_data=True))
        return [p.message for p in summary.problems if not p.harmless]
    finally:
        fresh.close()


def _prune_in_other_session(repo: Repository) -> None:
    other = reopen(repo)
    try:
        prune(other, PruneOptions())
    finally:
        other.close()


def _blob_ids_in(repo: Repository, pack: bytes) -> set[bytes]:
    """The blob ids a sealed pack's header lists."""
    offset, length = header_span(len(pack), pack[-TRAILER_SIZE:])
    sealed = pack[offset : offset + length]
    return {e.blob_id for e in parse_header(repo.keys.sealer_for(envelope_key_id(sealed)), sealed)}


def _backup_lock(repo: Repository) -> RepositoryLock:
    [held] = [lock for lock in repo.locks.held if lock.held]
    return held


@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "control-unguarded"])
def test_backup_paused_past_lock_expiry_saves_nothing(
    repo: Repository,
    context: OperationContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    guarded: bool,
) -> None:
    source = write_files(tmp_path / "src", {f"k{i}.pem": 700_000 for i in range(4)})
    before = set(repo.snapshots.ids())
    run = PausedBackup(repo, source, context)
    monkeypatch.setattr(BlobWriter, "_before_index", run.hook(BlobWriter._before_index))
    if not guarded:  # the positive control: no write guard at all
        monkeypatch.setattr(BlobWriter, "ensure_writable", lambda *args: None)
    run.start()
    uploaded = pack_ids(repo)
    assert uploaded and not list(repo.backend.list("index/"))  # paused before any index
    lock = _backup_lock(repo)

    clock.offset += locks.EXPIRY_SECONDS + 1  # paused past the lock's expiry
    _prune_in_other_session(repo)  # sees the stale lock, deletes the unindexed packs
    assert not pack_ids(repo) & uploaded, "prune did not delete the paused backup's packs"
    # The trap: on resume the refresh thread may run first; it must not renew the lock.
    lock_objects = {info.name for info in repo.backend.list("locks/")}
    assert lock.refresh() is False
    assert {info.name for info in repo.backend.list("locks/")} <= lock_objects
    run.finish()

    if not guarded:  # the race is real: unguarded, a broken snapshot is "saved"
        assert run.error is None and run.snapshot_id
        assert _problems(repo), "the unguarded backup's snapshot should be broken"
        return
    assert isinstance(run.error, LockError), run.error
    message = str(run.error)
    assert "paused past its lock's expiry" in message and "nothing was saved" in message
    assert "run it again" in message and "\n" not in message
    assert set(repo.snapshots.ids()) == before
    assert _problems(repo) == []
    # Running it again (same session, as an API user would) succeeds and restores.
    snapshot = backup(repo, source, context)
    assert _problems(repo) == []
    assert_restores(repo, snapshot, source, tmp_path / "out", context)


def test_backup_whose_pack_was_deleted_while_paused_saves_nothing(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even under a valid lock, a pack the backup stored and then lost stops it."""
    source = write_files(tmp_path / "src", {f"k{i}.pem": 700_000 for i in range(3)})
    run = PausedBackup(repo, source, context)
    monkeypatch.setattr(BlobWriter, "_before_index", run.hook(BlobWriter._before_index))
    run.start()
    victim = sorted(pack_ids(repo))[0]
    repo.backend.delete(pack_name(victim))
    run.finish()
    assert isinstance(run.error, IntegrityError), run.error
    assert "gone" in str(run.error) and "nothing was saved" in str(run.error)
    assert repo.snapshots.ids() == [] and _problems(repo) == []


def test_refresh_after_a_pause_marks_the_lock_lost(repo: Repository, clock: Clock) -> None:
    held = repo.lock("backup")
    try:
        # Positive control: a timely refresh renews the lock object.
        first = held.name
        assert held.refresh() is True and held.name != first
        held.ensure_valid()
        # Paused past the expiry: the refresh writes nothing and the lock is lost.
        clock.offset += locks.EXPIRY_SECONDS + 1
        name = held.name
        assert held.refresh() is False and held.name == name
        assert {info.name for info in repo.backend.list("locks/")} == {name}
        with pytest.raises(LockError, match="paused past its lock's expiry"):
            held.ensure_valid("nothing was saved")
    finally:
        held.release()
    assert not list(repo.backend.list("locks/"))


def test_refresh_that_lands_after_the_expiry_is_not_trusted(
    repo: Repository, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused in the middle of a refresh: the new object landed after the old expired."""
    held = repo.lock("backup")
    original = RepositoryLock._write

    def slow_write(self: RepositoryLock) -> tuple[str, float]:
        written = original(self)
        clock.offset += locks.EXPIRY_SECONDS + 1
        return written

    try:
        monkeypatch.setattr(held, "_write", types.MethodType(slow_write, held))
        name = held.name
        assert held.refresh() is False and held.name == name
        assert {info.name for info in repo.backend.list("locks/")} == {name}
        with pytest.raises(LockError):
            held.ensure_valid()
    finally:
        held.release()


def test_failed_pack_upload_is_never_deduplicated_against(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pack whose upload failed: its blobs must not satisfy dedup in this session later."""
    source = write_files(tmp_path / "src", {f"k{i}.pem": 700_000 for i in range(3)})
    original_put = repo.backend.put
    failed: list[set[bytes]] = []

    def put(name: str, data: bytes, *args: object, **kwargs: object) -> None:
        if name.startswith("data/") and not failed:
            failed.append(_blob_ids_in(repo, data))
            raise BackendError("injected upload failure")
        original_put(name, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repo.backend, "put", put)
    with pytest.raises(BackendError, match="injected"):
        backup(repo, source, context)
    assert failed and failed[0] and repo.snapshots.ids() == []  # it fired; nothing saved
    # The same session backs up again: the lost blobs are stored for real, nothing dangles.
    snapshot = backup(repo, source, context)
    assert _problems(repo) == []
    repo.blobs.load_index(reload=True)
    assert all(repo.blobs.index.candidates(blob) for blob in failed[0])
    assert_restores(repo, snapshot, source, tmp_path / "out", context)
