"""Directory handles below a restore target that never follow symlinks.

Every directory is opened relative to its parent's descriptor with
``O_NOFOLLOW | O_DIRECTORY``, so neither a restored symlink nor one already in
the target can redirect a write outside the target.
"""

from __future__ import annotations

import errno
import os
import resource
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from keyark.errors import UnsafePathError
from keyark.restorer.target import target_errors

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _max_open() -> int:
    """How many directory descriptors to keep: a quarter of the descriptor limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(64, min(4096, soft // 4)) if soft != resource.RLIM_INFINITY else 4096


MAX_OPEN = _max_open()


class DirHandles:
    """An LRU of open directory descriptors keyed by parts below the target."""

    def __init__(
        self,
        target: str,
        create: bool = True,
        shown: Callable[[tuple[str, ...]], str] = lambda parts: "/" + "/".join(parts),
    ) -> None:
        #: How messages name a directory below the target.
        self.shown = shown
        with target_errors(target):
            if create:
                os.makedirs(target, mode=0o700, exist_ok=True)
            self.root_fd = os.open(target, DIR_FLAGS & ~os.O_NOFOLLOW)
        self._open: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self._pinned: dict[tuple[str, ...], int] = {}
        #: Directories these handles created (empty then: nothing of an earlier run in them).
        self.created: set[tuple[str, ...]] = set()
        self._lock = threading.RLock()

    @contextmanager
    def use(self, parts: tuple[str, ...], create: bool = False) -> Iterator[int]:
        """Hold directory ``parts``'s descriptor; it stays open until the block ends.

        The lock is held only to find and pin the descriptor: other threads write in
        their directories (or this one) meanwhile.
        """
        with self._lock:
            fd = self._get(parts, create)
            self._pinned[parts] = self._pinned.get(parts, 0) + 1
        try:
            yield fd
        finally:
            with self._lock:
                self._pinned[parts] -= 1
                if not self._pinned[parts]:
                    del self._pinned[parts]

    def _get(self, parts: tuple[str, ...], create: bool = False) -> int:
        """A descriptor for directory ``parts`` (created 0700 if asked and missing)."""
        if not parts:
            return self.root_fd
        with self._lock:
            fd = self._open.get(parts)
            if fd is not None:
                self._open.move_to_end(parts)
                return fd
            parent = self._get(parts[:-1], create)
            name = parts[-1]
            if create:
                try:
                    os.mkdir(name, 0o700, dir_fd=parent)
                    self.created.add(parts)
                except FileExistsError:
                    pass
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=parent)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePathError(
                        f"{self.shown(parts)}: is a symlink or not a directory in the target; "
                        "refusing to write through it"
                    ) from None
                raise
            self._open[parts] = fd
            if len(self._open) > MAX_OPEN:
                self._evict(parts)
            return fd

    def _evict(self, keep: tuple[str, ...]) -> None:
        """Close least recently used handles no caller holds, down to :data:`MAX_OPEN`.

        Walks from the oldest end and stops at the first one it can close, so a miss
        costs O(1) however many directories are open (held ones are few: the
        callers' current directories and their parents).
        """
        held: list[tuple[tuple[str, ...], int]] = []
        while len(self._open) + len(held) > MAX_OPEN and self._open:
            old_parts, old_fd = self._open.popitem(last=False)
            if old_parts in self._pinned or old_parts == keep:
                held.append((old_parts, old_fd))
                continue
            os.close(old_fd)
        for old_parts, old_fd in reversed(held):  # back at the oldest end, in order
            self._open[old_parts] = old_fd
            self._open.move_to_end(old_parts, last=False)

    def close(self) -> None:
        with self._lock:
            for fd in self._open.values():
                os.close(fd)
            self._open.clear()
            os.close(self.root_fd)
