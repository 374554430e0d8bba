"""Where client-side state lives (catalog, agent cache, trust state), created private.

Everything under the cache directory describes the user's backups (file names,
content ids, trust records), so every directory keyark creates there is 0700 and
every file 0600, whatever the umask.

The cache is never required for correctness: when its disk is full or it cannot be
written, the catalog and the agent cache fall back to memory for the rest of the
command (one warning naming the directory and the remedies), and the backup or
restore carries on. ``KEYARK_NO_CACHE=1`` (``--no-cache``) keeps them in memory
from the start.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import sqlite3
    import threading

from keyark.directories import missing_directories
from keyark.errors import Hint

log = logging.getLogger("keyark.cache")

#: Set (to anything but "" or "0") to keep the catalog and agent cache in memory only.
NO_CACHE_ENV = "KEYARK_NO_CACHE"
#: OS errors meaning "this directory cannot take more writes", not a bug.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
#: SQLite result codes with the same meaning (extended codes start with these names).
_DISK_SQLITE = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM")
_warned: set[str] = set()
_T = TypeVar("_T")


def private_directory(path: Path) -> Path:
    """Create ``path`` and every missing parent with mode 0700; make ``path`` itself 0700.

    ``Path.mkdir(parents=True)`` would create the parents with the umask's mode
    (often 0755), letting other users list the cache.
    """
    for directory in missing_directories(path):
        try:
            directory.mkdir(mode=0o700)
            os.chmod(directory, 0o700)  # whatever the umask
        except FileExistsError:
            pass
    os.chmod(path, 0o700)
    return path


def default_cache_dir() -> Path:
    """``$KEYARK_CACHE_DIR``, else ``$XDG_CACHE_HOME/keyark``, else ``~/.cache/keyark``."""
    explicit = os.environ.get("KEYARK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "keyark"


def cache_disabled() -> bool:
    """Whether ``--no-cache`` (``KEYARK_NO_CACHE``) asks for in-memory caches only."""
    return os.environ.get(NO_CACHE_ENV, "") not in ("", "0")


def is_cache_failure(error: BaseException) -> bool:
    """Whether ``error`` says the cache's disk is full or unwritable (not a bug)."""
    import sqlite3  # here: the command line imports this module at start-up

    if isinstance(error, sqlite3.OperationalError):
        name = getattr(error, "sqlite_errorname", "") or ""
        if name.startswith(_DISK_SQLITE):
            return True
        text = str(error)
        return "disk is full" in text or "unable to open" in text or "readonly" in text
    return isinstance(error, OSError) and error.errno in _DISK_ERRNOS


def describe_failure(directory: Path, error: BaseException) -> str:
    """``full`` or ``not writable`` (for the one warning line)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "full"
    if "disk is full" in str(error):
        return "full"
    try:
        if os.statvfs(directory).f_bavail == 0:
            return "full"
    except OSError:
        pass
    return "not writable"


def warn_cache_unusable(directory: Path, error: BaseException, what: str) -> None:
    """Warn once per directory that ``what`` continues in memory, and how to fix it."""
    key = str(directory)
    if key in _warned:
        return
    _warned.add(key)
    log.warning(
        "the cache directory %s is %s; continuing without the %s (slower, nothing is "
        "lost): free space there, or choose another cache directory or none",
        directory,
        describe_failure(directory, error),
        what,
        extra={"hint": Hint.CACHE_DIR},
    )


class MemoryFallback:
    """A SQLite cache that moves to memory when its disk fails (the catalog, the agent cache).

    The class sets ``_db``, ``_lock`` and ``in_memory`` and implements :meth:`_fall_back`
    (warn, set ``in_memory``, return the in-memory database to continue with).
    """

    _db: sqlite3.Connection
    _lock: threading.RLock
    in_memory: bool

    def _fall_back(self, error: BaseException) -> sqlite3.Connection:
        raise NotImplementedError

    def _writing(self, action: Callable[[], _T]) -> _T:
        """Run a write; on a cache-disk failure move to memory and run it again there."""
        import sqlite3  # here: the command line imports this module at start-up

        with self._lock:
            try:
                return action()
            except (sqlite3.Error, OSError) as error:
                if self.in_memory or not is_cache_failure(error):
                    raise
                old, self._db = self._db, self._fall_back(error)
                try:
                    old.close()
                except sqlite3.Error:
                    pass
                return action()


__all__ = [
    "NO_CACHE_ENV",
    "MemoryFallback",
    "cache_disabled",
    "default_cache_dir",
    "is_cache_failure",
    "private_directory",
    "warn_cache_unusable",
]
