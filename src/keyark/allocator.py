"""Process memory tuning for the command line.

glibc raises its mmap threshold dynamically after large blocks are freed, after
which pack-sized buffers (megabytes) come from the heap and fragment it: peak RSS
grows to several times the live data. Pinning the threshold keeps large buffers
in their own mappings, returned to the system as soon as they are freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024


def tune_allocator() -> bool:
    """Pin glibc's mmap threshold; a no-op elsewhere. Returns True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False
