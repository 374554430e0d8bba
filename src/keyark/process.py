"""Process-wide settings: no core dumps (every face), a tuned allocator (the command line).

Core dumps would write decrypted keys and passphrases to disk, so keyark turns
them off for the whole process as soon as the package is imported (the command
line, the Python API, the daemon and the server alike; principle 6): the core
size limit goes to zero and, on Linux, the process is marked not dumpable,
which also keeps other processes of the same user from reading its memory
through ``ptrace`` or ``/proc/<pid>/mem``.


glibc raises its mmap threshold dynamically after large blocks are freed, after
which pack-sized buffers (megabytes) come from the heap and fragment it: peak RSS
grows to several times the live data. Pinning the threshold keeps large buffers
in their own mappings, returned to the system as soon as they are freed.
"""

from __future__ import annotations

import ctypes
import resource
import sys

M_MMAP_THRESHOLD = -3
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
#: Pack-sized buffers (16 MiB) and large chunks get their own mappings; smaller ones,
#: which are allocated and freed at a high rate, stay on the heap (a lower threshold costs
#: measurable system time on big files).
MMAP_THRESHOLD = 1024 * 1024


def tune_allocator() -> bool:
    """Pin glibc's mmap threshold; a no-op elsewhere. Returns True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def disable_core_dumps() -> bool:
    """No core dump of this process: core size limit 0 and, on Linux, not dumpable.

    Best effort and idempotent; returns True if both took effect (or the platform
    has no dumpable flag).
    """
    limited = True
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        limited = False
    if not sys.platform.startswith("linux"):
        return limited
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return limited and libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def raise_file_limit() -> None:
    """Raise the soft open-file limit to the hard one (restore keeps directories open)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    except (ValueError, OSError):
        pass


def prepare() -> None:
    """Everything the command line sets up before it touches key material."""
    disable_core_dumps()
    raise_file_limit()
    tune_allocator()
