"""The spot check against the live source (borgmatic's idea): a restored file whose
source is still there, readable and unchanged since the snapshot — the same size,
mtime and ctime the snapshot recorded — must hold the same bytes. A source that changed
since is counted as changed (it says nothing about the backup); one that is gone or
unreadable is skipped."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from keyark.cancel import NEVER, CancelToken
from keyark.catalog.trees import Entry
from keyark.drill.result import LiveComparison

#: Bytes read per step when two files are compared.
CHUNK = 1 << 20
#: The most changed paths a comparison names.
MAX_NAMED = 20


def compare_live(
    scratch: str,
    entries: Iterable[Entry],
    comparison: LiveComparison,
    cancel: CancelToken = NEVER,
) -> None:
    """Compare each restored file (``scratch`` + its snapshot path) with its live
    source (the snapshot path itself), counting into ``comparison``."""
    for entry in entries:
        cancel.check()
        source = entry.path
        unchanged = _unchanged(source, entry)
        if unchanged is None:
            comparison.skipped += 1
            continue
        if not unchanged:
            comparison.changed += 1
            if len(comparison.changed_paths) < MAX_NAMED:
                comparison.changed_paths.append(source)
            continue
        same = _same_bytes(os.path.join(scratch, *entry.parts), source, cancel)
        if same is None:
            comparison.skipped += 1
            continue
        comparison.compared += 1
        if same:
            comparison.matched += 1
        else:
            comparison.differed += 1
            comparison.differences.append(source)


def _unchanged(source: str, entry: Entry) -> bool | None:
    """Whether the live file still has the recorded size, mtime and ctime (None: it is
    gone, unreadable or no longer a regular file)."""
    try:
        found = os.lstat(source)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    node = entry.node
    return (
        found.st_size == node.size
        and found.st_mtime_ns == node.mtime_ns
        and found.st_ctime_ns == node.ctime_ns
    )


def _same_bytes(restored: str, source: str, cancel: CancelToken) -> bool | None:
    """Whether the two files hold the same bytes (None: one cannot be read).

    The source is read without updating its access time where the kernel allows it
    (``O_NOATIME`` needs the file's owner; others read it plainly).
    """
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        return _compare(restored, source, noatime, cancel)
    except PermissionError:
        if not noatime:
            return None
    except OSError:
        return None
    try:
        return _compare(restored, source, 0, cancel)
    except OSError:
        return None


def _compare(restored: str, source: str, source_flags: int, cancel: CancelToken) -> bool:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    with (
        os.fdopen(os.open(restored, flags), "rb") as ours,
        os.fdopen(os.open(source, flags | source_flags), "rb") as theirs,
    ):
        while True:
            cancel.check()
            left, right = ours.read(CHUNK), theirs.read(CHUNK)
            if left != right:
                return False
            if not left:
                return True


__all__ = ["compare_live"]
