"""Rolling a target back to its restore point.

:func:`roll_back` first removes the entries the restore created (the record lists the
top-most ones; each is removed with everything below it, relative to its directory's
descriptor, never following a link), then the abandoned temporary files a killed
restore left in the target, then restores the restore point's tree over the target
(every saved entry written again with its metadata, directories last). What the
restore did not touch is left alone.

:func:`guard` wraps a restore: when it raises (an entry failed, ``--verify`` found a
mismatch, a cancel, Ctrl-C or SIGTERM) the target is rolled back at once, with a
``restore.rolled_back`` warning, and the error goes on. A second interrupt during the
rollback stops it; ``rollback`` finishes it later from the same restore point.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager

from keyark.archiver.progress import Tracker
from keyark.cancel import NEVER, CancelToken
from keyark.context import OperationContext
from keyark.errors import Hint, KeyarkError, RestoreError, RestorePointError, UnsafePathError
from keyark.events import Code, Events
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.restorer.dirs import DIR_FLAGS, DirHandles
from keyark.restorer.header_index import plan_restore
from keyark.restorer.leftovers import remove_abandoned
from keyark.restorer.plan import PathFilter
from keyark.restorer.restore_point import RestorePointRecord
from keyark.restorer.restorer import Restorer
from keyark.results import RestoreSummary


def roll_back(
    repo: Repository,
    point: Snapshot,
    record: RestorePointRecord,
    events: Events,
    cancel: CancelToken = NEVER,
) -> tuple[RestoreSummary, int]:
    """Put ``record.target`` back as restore point ``point`` saved it.

    Returns the summary of writing the saved entries back and how many created
    entries were removed. Raises :class:`RestorePointError` naming what could not be
    put back (everything else is).
    """
    started = time.time()
    removed, problems = remove_created(record.target, record.created)
    summary = RestoreSummary(
        snapshot_id=point.id, target=os.path.abspath(record.target), snapshot=point.describe()
    )
    plan = plan_restore(repo, point.tree, record.location, PathFilter(), events, cancel)
    restorer = Restorer(
        repo, record.target, summary, Tracker(events, "rollback", cancel), overwrite="always"
    )
    for path, reason in plan.unreadable:
        restorer.fail(path, reason)
    # Before writing: removing them afterwards would change the directories' times again.
    _remove_leftovers(record.target, [(), *(entry.parts for entry in plan.dirs)], started)
    restorer.run(plan)
    problems += summary.errors
    if problems:
        count = len(problems)
        raise RestorePointError(
            f"rollback to restore point {point.short_id} could not put back "
            f"{count} {'entry' if count == 1 else 'entries'}: {'; '.join(problems[:3])}"
            f"{' ...' if count > 3 else ''} (everything else was put back)",
            hint=Hint.LIST_RESTORE_POINTS,
        )
    return summary, removed


def remove_created(target: str, created: list[str]) -> tuple[int, list[str]]:
    """Remove each entry of ``created`` (``a/b`` below ``target``) with what is below it.

    Returns how many were removed and the problems (``path: reason``). A missing
    entry is no problem; a directory above one that is a link is left alone.
    """
    if not created or not os.path.isdir(target):
        return 0, []
    removed, problems = 0, []
    handles = DirHandles(target, create=False)
    try:
        for relative in created:
            parts = tuple(part for part in relative.split("/") if part)
            if not parts:
                continue
            try:
                with handles.use(parts[:-1]) as dir_fd:
                    _remove_tree(dir_fd, parts[-1])
                removed += 1
            except FileNotFoundError:
                continue
            except (OSError, UnsafePathError) as error:
                reason = error.strerror if isinstance(error, OSError) else str(error)
                problems.append(f"{relative}: cannot remove it ({reason})")
    finally:
        handles.close()
    return removed, problems


def _remove_tree(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd``: a link or file as itself, a directory with its content."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)  # ELOOP if swapped for a link meanwhile
    try:
        with os.scandir(fd) as entries:
            names = [entry.name for entry in entries]
        for child in names:
            _remove_tree(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def _remove_leftovers(target: str, directories: list[tuple[str, ...]], started: float) -> None:
    """Remove the temporary files a killed restore left in ``directories`` of the target."""
    if not os.path.isdir(target):
        return
    handles = DirHandles(target, create=False)
    try:
        for parts in directories:
            try:
                with handles.use(parts) as dir_fd:
                    remove_abandoned(dir_fd, started)
            except (OSError, UnsafePathError):
                continue
    finally:
        handles.close()


@contextmanager
def guard(
    repo: Repository,
    point: Snapshot | None,
    record: RestorePointRecord | None,
    summary: RestoreSummary,
    ctx: OperationContext,
) -> Iterator[None]:
    """Roll the target back to ``point`` when the block raises (then re-raise)."""
    if point is None or record is None:
        yield
        return
    try:
        yield
    except BaseException as error:
        cause = _cause(error)
        try:
            roll_back(repo, point, record, ctx.events)  # not cancellable: it must finish
        except (KeyarkError, OSError) as failure:
            ctx.events.warn(
                Code.RESTORE_ROLLED_BACK,
                f"the restore {cause}, and rolling the target back to restore point "
                f"{point.short_id} did not finish ({failure}); roll back again from it",
                subject=record.target,
            )
            raise error from None
        summary.rolled_back = True
        said = (
            f"the target was rolled back to restore point {point.short_id} "
            "(as it was before the restore)"
        )
        ctx.events.warn(
            Code.RESTORE_ROLLED_BACK, f"the restore {cause}; {said}", subject=record.target
        )
        if type(error) is RestoreError:  # its message said what was restored: not so now
            replaced = RestoreError(f"{error}; {said}", hint=error.hint)
            replaced.summary = summary  # type: ignore[attr-defined]
            raise replaced from None
        raise


def _cause(error: BaseException) -> str:
    """Why the restore stopped, for the rollback message."""
    if isinstance(error, KeyboardInterrupt):
        return "was interrupted"
    if isinstance(error, KeyarkError) and error.code == "cancelled":
        return "was cancelled"
    if isinstance(error, KeyarkError):
        return f"failed ({error})"
    return f"failed ({type(error).__name__}: {error})"


__all__ = ["guard", "remove_created", "roll_back"]
