"""Running on a repository whose disk is full: reading without a lock, freeing room for one.

Every command writes a lock object first, so a repository whose disk is 100% full
would refuse everything, including the commands that free space. Two safe rules:

- A command that only *reads* (``check``, ``restore``) goes on without a lock when
  the lock cannot be written because the disk is full, with one warning. The lock
  only keeps ``prune`` from deleting packs under it, and a prune needs a lock too,
  which the full disk refuses it as well; the worst case is a report of packs that
  vanished meanwhile, never a change to the repository.
- ``prune`` (which must write an exclusive lock) first makes room for it with
  :func:`make_room_for_lock`, deleting only what no live writer can depend on.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from keyark.errors import BackendError, LockError, NotFoundError
from keyark.events import Code, Events
from keyark.repo.locks import RepositoryLock
from keyark.repo.repository import Repository

log = logging.getLogger("keyark.locks")


def is_disk_full(error: BaseException) -> bool:
    """Whether a backend error says the repository's disk (or quota) is full."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error).lower()
    return "disk full" in text or "no space left" in text or "quota exceeded" in text


@contextmanager
def read_lock(
    repo: Repository, operation: str, retry: float = 0.0, events: Events | None = None
) -> Iterator[RepositoryLock | None]:
    """A shared lock for a read-only ``operation``; none, with a warning, on a full disk.

    The warning (:data:`~keyark.events.Code.STORAGE_FULL`) goes to ``events``
    (default ``repo.events``). Any other failure to lock (a
    conflicting exclusive lock: :class:`LockError`, a backend error) is raised as before.
    """
    try:
        lock = repo.lock(operation, retry=retry)
    except LockError:
        raise
    except BackendError as error:
        if not is_disk_full(error):
            raise
        message = (
            f"the repository disk is full, so {operation} runs without a lock "
            "(read-only; prune frees space)"
        )
        log.warning(message)
        (events or repo.events).warn(Code.STORAGE_FULL, message)
        yield None
        return
    with lock:
        yield lock


def make_room_for_lock(repo: Repository) -> int:
    """Free space for a lock on a full repository disk; return how many objects went.

    Deleted, in this order, and only what no live process can depend on:

    1. stale locks (expired, or of a dead process on this host);
    2. if no live lock remains (so no writer is running: writers lock before they
       upload) and every index file could be read: packs that no index lists. A
       writer dedups only against indexed blobs, so nothing can refer to them.

    Nothing is deleted while a live lock exists or an index file is unreadable.
    """
    locks = repo.locks.remove_stale()
    removed = locks.removed
    if locks.live:
        return removed
    repo.blobs.load_index(reload=True)
    if repo.blobs.index_problems:
        return removed
    indexed = repo.blobs.index.packs()
    for pack_id in repo.packs.stored():
        if pack_id in indexed:
            continue
        try:
            repo.packs.delete(pack_id)
            removed += 1
        except NotFoundError:
            continue
    return removed


__all__ = ["is_disk_full", "make_room_for_lock", "read_lock"]
