"""``unlock``: remove locks whose holders are gone (or all of them)."""

from __future__ import annotations

from keyark.repo.locks import LockInfo
from keyark.repo.repository import Repository


def unlock(repo: Repository, *, remove_all: bool = False) -> list[LockInfo]:
    """Remove stale locks (expired, or of a dead process on this host); all with ``remove_all``.

    Unreadable lock objects (damaged, planted, or not written by keyark) are always
    removed: no keyark client can be holding one. Returns the locks removed (an
    unreadable one has ``readable`` False). ``remove_all`` also removes the locks of running
    processes: only for when they are known to be gone (another host crashed).
    """
    return repo.locks.remove(remove_all=remove_all)


__all__ = ["unlock"]
