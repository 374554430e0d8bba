"""Temporary restore files: their names, and removing the ones nobody will finish.

A restore writes each file as ``.keyark-restore-<pid>-<run>-<n>`` in its directory
and renames it into place when complete. A restore that was killed (``kill -9``, a
crash, a power cut) leaves its partial files behind; one that is interrupted
(Ctrl-C, SIGTERM) removes its own. Every later restore removes, in each directory
it writes, the temporary files no live restore owns:

- the name carries a process id that is not running on this host, or
- the name has no process id (written by an older keyark) and was last modified
  before this restore started.

A name carrying a live process id is left alone (another restore may be writing it);
its own run's files are removed only when this restore stops early.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from keyark.errors import UnsafePathError
from keyark.process import pid_running

if TYPE_CHECKING:
    from keyark.restorer.dirs import DirHandles
    from keyark.restorer.plan import RestorePlan

TEMP_PREFIX = ".keyark-restore-"


def temp_name(run_token: str, counter: int) -> str:
    """The temporary name of file ``counter`` of restore run ``run_token`` (this process)."""
    return f"{TEMP_PREFIX}{os.getpid()}-{run_token}-{counter}"


def _pid_of(name: str) -> int | None:
    """The process id a temporary name carries; None for an older name without one."""
    parts = name[len(TEMP_PREFIX) :].split("-")
    if len(parts) == 3 and parts[0].isdigit():
        return int(parts[0])
    return None


def is_abandoned(name: str, mtime: float, started: float, own_run: str | None) -> bool:
    """Whether temporary file ``name`` belongs to no live restore (see the module doc).

    ``own_run``: also count this restore's own run (``run_token``) as abandoned (it
    stopped early and will not finish them).
    """
    if not name.startswith(TEMP_PREFIX):
        return False
    if own_run is not None and name.startswith(f"{TEMP_PREFIX}{os.getpid()}-{own_run}-"):
        return True
    pid = _pid_of(name)
    if pid is None:
        return mtime < started
    return not pid_running(pid)


def remove_abandoned(dir_fd: int, started: float, own_run: str | None = None) -> int:
    """Remove the abandoned temporary restore files directly in directory ``dir_fd``.

    Only regular files and symbolic links are removed (a restore never creates a
    temporary directory); errors are ignored (a file that vanished, a read-only
    directory). Returns how many were removed.
    """
    removed = 0
    try:
        with os.scandir(dir_fd) as entries:
            names = [e.name for e in entries if e.name.startswith(TEMP_PREFIX)]
    except OSError:
        return 0
    for name in names:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                continue
            if is_abandoned(name, st.st_mtime, started, own_run):
                os.unlink(name, dir_fd=dir_fd)
                removed += 1
        except OSError:
            continue
    return removed


def remove_leftovers(
    handles: DirHandles, plan: RestorePlan, started: float, own_run: str | None
) -> None:
    """Remove the abandoned temporary files in every directory ``plan`` writes.

    ``own_run`` (the run token of a restore that stopped early) adds that run's own.
    A restore that finished skips the directories it created itself (``handles.created``):
    they were empty, and it renamed every file it wrote there into place, so only a
    concurrent restore's files can be there (those of a restore killed meanwhile are
    removed by the next restore writing there).
    """
    directories = {entry.parts for entry in plan.dirs}
    directories.update(entry.parts[:-1] for entry in plan.files)
    if own_run is None:
        directories -= handles.created
    for parts in sorted(directories):
        try:
            with handles.use(parts) as dir_fd:
                remove_abandoned(dir_fd, started, own_run)
        except (OSError, UnsafePathError):
            continue


__all__ = ["TEMP_PREFIX", "is_abandoned", "remove_abandoned", "remove_leftovers", "temp_name"]
