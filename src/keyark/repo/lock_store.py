"""The lock store: taking, listing and removing a repository's lock objects.

A session takes its locks here (:meth:`LockStore.take`), which remembers them so
writers can check, before each index file and snapshot, that every lock they hold
is still valid (:meth:`LockStore.ensure_valid`, issue 9). A wait for another
process's lock is reported as a ``LockWait`` event and sleeps through the
operation's cancel token, so a cancel ends it at once and leaves no lock object.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from keyark.backends.base import Backend
from keyark.cancel import NEVER, CancelToken
from keyark.errors import NotFoundError, UsageError
from keyark.events import Events
from keyark.repo.locks import (
    LockInfo,
    RepositoryLock,
    WaitListener,
    lock_sealer,
    read_locks,
    remove_locks,
)


@dataclass(frozen=True)
class StaleLockRemoval:
    """What :meth:`LockStore.remove_stale` did: locks deleted, and live locks left."""

    removed: int
    live: int


class UnwrittenLock(RepositoryLock):
    """A shared lock that is never written (a reading operation run with "no lock").

    It protects nothing: a concurrent prune may delete what the reader is about to
    read, which the reader then reports as a missing object. It exists so read-only
    storage (a mounted snapshot, a read-only bucket) can be read.
    """

    def acquire(
        self,
        retry_seconds: float = 0.0,
        *,
        on_wait: WaitListener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RepositoryLock:
        """Write nothing and return at once."""
        return self

    def ensure_valid(self, consequence: str = "") -> None:
        """Never raises: nothing was held, so nothing can be lost."""

    def release(self) -> None:
        """Nothing to delete."""


class LockStore:
    """The lock objects of one repository, as one session sees them."""

    def __init__(self, backend: Backend, id_key: bytes) -> None:
        self._backend = backend
        self._sealer = lock_sealer(id_key)
        #: Locks this session took (released ones are dropped at the next check).
        self.held: list[RepositoryLock] = []
        #: Shared locks are not written (reading with "no lock"); exclusive ones are refused.
        self.unlocked_reads = False

    def take(
        self,
        operation: str,
        *,
        exclusive: bool = False,
        retry: float = 0.0,
        events: Events | None = None,
        cancel: CancelToken = NEVER,
    ) -> RepositoryLock:
        """Take a shared or exclusive lock (a context manager), waiting up to ``retry`` s.

        Each wait emits ``events.lock_wait(holder, waited, limit)`` and sleeps through
        ``cancel`` (a cancel raises :class:`~keyark.errors.CancelledError`, no lock left).
        """
        cancel.check()
        if self.unlocked_reads:
            if exclusive:
                raise UsageError(f"{operation} needs an exclusive lock; it cannot run without one")
            return UnwrittenLock(self._backend, self._sealer, operation, exclusive)

        def waiting(holder: LockInfo, waited: float, limit: float) -> None:
            if events is not None:
                events.lock_wait(holder.describe(), waited, limit)
            cancel.check()

        lock = RepositoryLock(self._backend, self._sealer, operation, exclusive)
        held = lock.acquire(retry, on_wait=waiting, sleep=cancel.sleep)
        self.held = [lock for lock in self.held if lock.held] + [held]
        return held

    def ensure_valid(self, consequence: str) -> None:
        """Raise :class:`~keyark.errors.LockError` if a lock this session holds was lost."""
        for lock in [lock for lock in self.held if lock.held]:
            lock.ensure_valid(consequence)
        self.held = [lock for lock in self.held if lock.held]

    def read(self) -> list[LockInfo]:
        """Every lock object (unreadable ones as :meth:`LockInfo.unreadable`)."""
        return list(read_locks(self._backend, self._sealer))

    def remove(self, *, remove_all: bool = False) -> list[LockInfo]:
        """Delete stale and unreadable locks (every lock with ``remove_all``); return them."""
        return remove_locks(self._backend, self._sealer, remove_all=remove_all)

    def remove_stale(self) -> StaleLockRemoval:
        """Delete readable stale locks only; count the others as live (a full disk's room)."""
        removed = live = 0
        for info in read_locks(self._backend, self._sealer):
            if not (info.readable and info.is_stale()):
                live += 1
                continue
            try:
                self._backend.delete(info.name)
            except NotFoundError:
                continue
            removed += 1
        return StaleLockRemoval(removed, live)


__all__ = ["LockStore", "StaleLockRemoval"]
