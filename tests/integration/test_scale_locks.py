"""Lock reads with many hosts (issue 18 §3): a shared lock reads no other shared lock.

Every acquire listed ``locks/`` and read every lock object in it, so n writers at once
made n x n reads. Shared locks are now named ``locks/shared-...``: a shared locker
reads only the other objects (exclusive locks, older or planted ones), an exclusive
locker reads every object but its own, once per attempt. Each claim comes with the
conflicts it must still see (positive controls). Real lock objects on local storage;
the backend's reads are recorded (observed, not changed).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyark.backends.base import ObjectInfo
from keyark.backends.local import LocalBackend
from keyark.crypto.envelope import ObjectKind, Sealer
from keyark.errors import LockError
from keyark.repo.locks import LOCK_PREFIX, SHARED_MARK, RepositoryLock, lock_sealer

#: Lock objects already in the repository in the large cases.
MANY = 200


class RecordingBackend(LocalBackend):
    """The local backend, counting reads of lock objects and listings."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.listings = 0

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        self.reads.append(name)
        return super().get(name, offset, length)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self.listings += 1
        return super().list(prefix)


@pytest.fixture
def storage(tmp_path: Path) -> RecordingBackend:
    return RecordingBackend(tmp_path / "repo")


SEALER = lock_sealer(b"\x07" * 32)


def plant(backend: LocalBackend, *, exclusive: bool, stale: bool = False, name: str = "") -> str:
    """A lock object as keyark writes one (``name`` overrides the name keyark would pick)."""
    now = time.time()
    document = {
        "host": "other-host",
        "pid": 4242,
        "username": "agent",
        "operation": "prune" if exclusive else "backup",
        "exclusive": exclusive,
        "created": now - (2000 if stale else 0),
        "expires": now - 1000 if stale else now + 600,
    }
    mark = "" if exclusive else SHARED_MARK
    name = name or LOCK_PREFIX + mark + os.urandom(16).hex()
    backend.put(name, _seal(SEALER, name, document))
    return name


def _seal(sealer: Sealer, name: str, document: dict[str, object]) -> bytes:
    return sealer.seal(ObjectKind.LOCK, name.encode(), json.dumps(document).encode())


def _acquire(backend: LocalBackend, *, exclusive: bool) -> RepositoryLock:
    return RepositoryLock(backend, SEALER, "prune" if exclusive else "backup", exclusive).acquire()


def test_names_say_shared_or_exclusive(storage: RecordingBackend) -> None:
    with _acquire(storage, exclusive=False) as shared:
        assert shared.name.startswith(LOCK_PREFIX + SHARED_MARK)
    with _acquire(storage, exclusive=True) as exclusive:
        assert not exclusive.name.startswith(LOCK_PREFIX + SHARED_MARK)


def test_a_shared_acquire_reads_only_exclusive_locks(storage: RecordingBackend) -> None:
    shared = [plant(storage, exclusive=False, stale=n % 3 == 0) for n in range(MANY - 20)]
    stale_exclusive = [plant(storage, exclusive=True, stale=True) for _ in range(20)]
    storage.reads.clear()
    storage.listings = 0
    with _acquire(storage, exclusive=False):
        pass
    assert storage.listings == 1
    assert sorted(storage.reads) == sorted(stale_exclusive)  # O(exclusive locks), not O(all)
    assert not set(storage.reads) & set(shared)


def test_an_exclusive_acquire_reads_each_lock_once(storage: RecordingBackend) -> None:
    planted = [plant(storage, exclusive=n % 2 == 0, stale=True) for n in range(MANY)]
    storage.reads.clear()
    with _acquire(storage, exclusive=True) as lock:
        assert sorted(storage.reads) == sorted(planted)  # every other lock, once, not its own
        assert lock.name not in storage.reads


def test_many_writers_at_once_read_linearly(storage: RecordingBackend) -> None:
    """n shared writers holding at once: no reads at all (it was n(n-1)/2)."""
    held = [_acquire(storage, exclusive=False) for _ in range(60)]
    try:
        assert storage.reads == []
    finally:
        for lock in held:
            lock.release()


# --- the semantics are unchanged: the conflicts each kind must still see ---------------
def test_a_live_exclusive_lock_stops_a_shared_one(storage: RecordingBackend) -> None:
    for _ in range(MANY):
        plant(storage, exclusive=False)
    plant(storage, exclusive=True)
    with pytest.raises(LockError, match="exclusively by prune"):
        _acquire(storage, exclusive=False)
    assert len(list(storage.list(LOCK_PREFIX))) == MANY + 1  # its attempt was removed


def test_a_live_shared_lock_stops_an_exclusive_one(storage: RecordingBackend) -> None:
    for _ in range(MANY):
        plant(storage, exclusive=True, stale=True)
    plant(storage, exclusive=False)
    with pytest.raises(LockError, match="shared by backup"):
        _acquire(storage, exclusive=True)


def test_an_older_versions_shared_lock_is_still_read(storage: RecordingBackend) -> None:
    """A shared lock named without the mark (written before it existed) is read: it does
    not stop a shared lock, and it stops an exclusive one."""
    legacy = plant(storage, exclusive=False, name=LOCK_PREFIX + os.urandom(16).hex())
    storage.reads.clear()
    with _acquire(storage, exclusive=False):
        assert storage.reads == [legacy]
    with pytest.raises(LockError, match="shared by backup"):
        _acquire(storage, exclusive=True)


def test_an_exclusive_document_under_a_shared_name(storage: RecordingBackend) -> None:
    """No keyark writes one (the name is sealed into it). Shared lockers pass over it,
    exclusive ones are stopped by it as by any live lock."""
    plant(storage, exclusive=True, name=LOCK_PREFIX + SHARED_MARK + os.urandom(16).hex())
    with _acquire(storage, exclusive=False):
        pass
    with pytest.raises(LockError, match="exclusively by prune"):
        _acquire(storage, exclusive=True)


def test_stale_locks_stop_nobody(storage: RecordingBackend) -> None:
    for n in range(MANY):
        plant(storage, exclusive=n % 2 == 0, stale=True)
    with _acquire(storage, exclusive=True):
        pass
    with _acquire(storage, exclusive=False):
        pass
