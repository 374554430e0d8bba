"""Descriptor-relative access to the files being backed up.

The walk never resolves a path twice: each directory is opened relative to its
parent's descriptor with ``O_NOFOLLOW | O_DIRECTORY``, its entries are listed
and stat'ed relative to that descriptor (``follow_symlinks=False``), and files
are opened relative to it with ``O_NOFOLLOW``. After opening, the descriptor's
device and inode must match what was listed: a directory swapped for a symlink
or for another directory between listing and opening is skipped (the caller
reports "changed during backup"), so a user cannot redirect a privileged
backup into a directory only root may read.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

from keyark.errors import SourceError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: a FIFO swapped in for a file must not hang the backup (no effect on files).
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
#: How many bytes of each small file the prefetcher asks the kernel to read ahead.
PREFETCH_BYTES = 256 * 1024
_PROC_FD = "/proc/self/fd"
_SWAPPED = (errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENXIO)
#: Extended attributes can be read relative to a directory descriptor (Linux with /proc).
_XATTRS = hasattr(os, "listxattr") and os.path.isdir(_PROC_FD)


def changed(path: str) -> SourceError:
    """The error for an entry that is no longer what was listed."""
    return SourceError(f"{path}: changed during backup (skipped)")


def open_root() -> int:
    """A descriptor of ``/``, where every walk starts."""
    return os.open("/", DIR_FLAGS)


def stat_at(dir_fd: int, name: str) -> os.stat_result:
    """``lstat`` of ``name`` in the directory ``dir_fd`` (never follows a symlink)."""
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def same_entry(listed: os.stat_result, opened: os.stat_result) -> bool:
    """True if ``opened`` (fstat) is the very entry ``listed`` (lstat) described."""
    return (listed.st_dev, listed.st_ino) == (opened.st_dev, opened.st_ino)


def _open_listed(
    dir_fd: int, name: str, flags: int, listed: os.stat_result, path: str, regular: bool
) -> tuple[int, os.stat_result]:
    """Open ``name`` below ``dir_fd`` with ``flags`` if it is still the entry ``listed``
    (and, with ``regular``, a regular file): the descriptor and its ``fstat``.

    Raises :class:`SourceError` ("changed during backup") when it is no longer that
    entry, and ``OSError`` for other failures.
    """
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in _SWAPPED:
            raise changed(path) from None
        raise
    try:
        now = os.fstat(fd)
        if (regular and not stat.S_ISREG(now.st_mode)) or not same_entry(listed, now):
            raise changed(path)
    except BaseException:
        os.close(fd)
        raise
    return fd, now


def open_directory(dir_fd: int, name: str, listed: os.stat_result, path: str) -> int:
    """Open directory ``name`` below ``dir_fd`` if it is still the one listed.

    Raises :class:`SourceError` ("changed during backup") when it became a symlink,
    another type or another directory, and ``OSError`` for other failures.
    """
    return _open_listed(dir_fd, name, DIR_FLAGS, listed, path, regular=False)[0]


def open_file(dir_fd: int, name: str, listed: os.stat_result, path: str) -> tuple[int, int]:
    """Open regular file ``name`` below ``dir_fd`` if it is still the one listed.

    Returns the descriptor and its current size. Raises :class:`SourceError`
    ("changed during backup") when it is no longer that regular file, and
    ``OSError`` for other failures.
    """
    fd, now = _open_listed(dir_fd, name, FILE_FLAGS, listed, path, regular=True)
    return fd, now.st_size


def list_directory(fd: int) -> list[str]:
    """The sorted entry names of the open directory ``fd``."""
    return sorted(os.listdir(fd))


def read_link(dir_fd: int, name: str) -> str:
    """The target of symlink ``name`` below ``dir_fd``."""
    return os.readlink(name, dir_fd=dir_fd)


def read_xattrs(dir_fd: int, name: str) -> dict[str, bytes]:
    """Extended attributes of ``name`` below ``dir_fd`` (never following a symlink).

    Linux has no ``*xattrat`` call: the directory is named through
    ``/proc/self/fd``, which resolves to the open directory itself, not a path.
    Empty where unsupported or unavailable.
    """
    if not _XATTRS:
        return {}
    where = f"{_PROC_FD}/{dir_fd}/{name}"
    try:
        names = os.listxattr(where, follow_symlinks=False)
    except OSError:
        return {}
    values: dict[str, bytes] = {}
    for attribute in names:
        try:
            values[attribute] = os.getxattr(where, attribute, follow_symlinks=False)
        except OSError:
            continue
    return values


class Prefetcher:
    """Asks the kernel to read a directory's files ahead of the walk (cold caches).

    Works on its own duplicate of the directory descriptor, so it never opens a
    name in a directory the walk did not list; no file data enters this process.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="keyark-prefetch")
        self._fds: set[int] = set()
        self._lock = threading.Lock()

    def submit(self, dir_fd: int, names: list[str]) -> None:
        """Queue read-ahead of ``names`` below ``dir_fd`` (best effort)."""
        try:
            fd = os.dup(dir_fd)
        except OSError:
            return
        with self._lock:
            self._fds.add(fd)
        self._pool.submit(self._run, fd, names)

    def _run(self, dir_fd: int, names: list[str]) -> None:
        try:
            for name in names:
                try:
                    # Only regular files: opening a FIFO or a device has side effects
                    # (a FIFO's writer sees a reader come and go, a tape rewinds).
                    if not stat.S_ISREG(stat_at(dir_fd, name).st_mode):
                        continue
                    fd = os.open(name, FILE_FLAGS | os.O_NOCTTY, dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, PREFETCH_BYTES, os.POSIX_FADV_WILLNEED)
                except OSError:
                    pass
                finally:
                    os.close(fd)
        finally:
            self._release(dir_fd)

    def _release(self, fd: int) -> None:
        with self._lock:
            if fd not in self._fds:
                return
            self._fds.discard(fd)
        os.close(fd)

    def shutdown(self) -> None:
        """Drop pending work, wait for the running job, close every descriptor still held."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            pending, self._fds = self._fds, set()
        for fd in pending:  # those of cancelled jobs, which never ran
            os.close(fd)
