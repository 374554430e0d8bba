"""Process-wide settings for the command line: no core dumps, a tuned allocator.

Core dumps would write decrypted keys and passphrases to disk, so the command
turns them off for itself (principle 6).


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


def disable_core_dumps() -> None:
    """Set this process's core-dump size limit to zero (best effort)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


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
