"""What a planned restore will change in an existing target, found before it writes.

:func:`find_changes` looks at the target through descriptor-relative calls that
never follow symbolic links (:class:`~keyark.restorer.dirs.DirHandles`) and sorts
each planned entry into one of:

- **replaced**: an existing file, symbolic link or special the restore writes over
  (``overwrite`` decides: ``never`` keeps every existing entry, ``if-changed`` keeps
  a file whose size and modification time already match);
- **dirs**: an existing directory whose metadata (mode, owner, times) the restore sets;
- **created**: the top-most planned entries that do not exist yet (what a rollback
  removes);

and, with ``--delete``, the entries the restore would remove (**replaced** too: they
are saved whole). Entries the restore refuses to touch (a planned directory that is
a file or a link in the target, a planned file that is a directory) are left out.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from keyark.cancel import NEVER, CancelToken
from keyark.errors import UnsafePathError
from keyark.restorer.dirs import DirHandles
from keyark.restorer.entries import same_file
from keyark.restorer.extras import ExtraRemover
from keyark.restorer.plan import PathFilter, PlanEntry, RestorePlan

Parts = tuple[str, ...]


@dataclass
class TargetChanges:
    """What a restore will change below its target (parts below the target)."""

    replaced: set[Parts] = field(default_factory=set)
    dirs: set[Parts] = field(default_factory=set)
    created: set[Parts] = field(default_factory=set)

    @property
    def touches_existing(self) -> bool:
        """Whether the restore overwrites or deletes anything that exists.

        (Setting the metadata of existing directories alone does not count: a restore
        into a target holding only the directories takes no restore point.)
        """
        return bool(self.replaced)


def find_changes(
    target: str,
    plan: RestorePlan,
    overwrite: str,
    delete: PathFilter | None,
    cancel: CancelToken = NEVER,
) -> TargetChanges | None:
    """What restoring ``plan`` into ``target`` changes; None when the target does not exist."""
    if not os.path.isdir(target):
        return None
    changes = TargetChanges()
    handles = DirHandles(target, create=False, shown=plan.shown)
    try:
        blocked: set[Parts] = set()  # planned dirs that are not directories in the target
        for entry in plan.dirs:
            cancel.check()
            _sort_dir(handles, entry, changes, blocked)
        for entry in (*plan.files, *plan.symlinks, *plan.specials):
            cancel.check()
            _sort_leaf(handles, entry, overwrite, changes, blocked)
        if delete is not None:
            ExtraRemover(
                plan,
                delete,
                lambda shown, _is_dir: changes.replaced.add(_parts_of(shown)),
                lambda _shown, _reason: None,  # the restore itself reports these
                dry_run=True,
                cancel=cancel,
            ).run(handles)
    finally:
        handles.close()
    return changes


def _under(parts: Parts, roots: set[Parts]) -> bool:
    """Whether ``parts`` or a directory above it is in ``roots``."""
    return any(parts[:depth] in roots for depth in range(1, len(parts) + 1))


def _lstat(handles: DirHandles, parts: Parts) -> os.stat_result | None:
    """The entry at ``parts`` (not followed), or None if it or its directory is missing.

    Raises :class:`UnsafePathError` when a directory above it is a link or a file.
    """
    try:
        with handles.use(parts[:-1]) as dir_fd:
            return os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _sort_dir(
    handles: DirHandles, entry: PlanEntry, changes: TargetChanges, blocked: set[Parts]
) -> None:
    st = _existing(handles, entry.parts, changes, blocked)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        changes.dirs.add(entry.parts)
    else:
        blocked.add(entry.parts)  # the restore refuses to write through it


def _sort_leaf(
    handles: DirHandles,
    entry: PlanEntry,
    overwrite: str,
    changes: TargetChanges,
    blocked: set[Parts],
) -> None:
    parts = entry.parts
    st = _existing(handles, parts, changes, blocked)
    if st is None:
        return
    if overwrite == "never" or stat.S_ISDIR(st.st_mode):
        return  # kept, or a directory the restore cannot replace
    if overwrite == "if-changed" and same_file(st, entry.node):
        return
    changes.replaced.add(parts)


def _existing(
    handles: DirHandles, parts: Parts, changes: TargetChanges, blocked: set[Parts]
) -> os.stat_result | None:
    """The entry that stands at ``parts`` in the target, or None when there is nothing
    more to sort: ``parts`` lies below a created or blocked entry, cannot be looked at
    (blocked: the restore refuses it too), or does not exist yet (recorded as created).
    """
    if _under(parts, changes.created) or _under(parts, blocked):
        return None
    try:
        st = _lstat(handles, parts)
    except (UnsafePathError, OSError):
        blocked.add(parts)
        return None
    if st is None:
        changes.created.add(parts)
    return st


def _parts_of(shown: str) -> Parts:
    """Parts below the target of a path as :meth:`RestorePlan.shown` names it."""
    return tuple(part for part in shown.split("/") if part and part != ".")


__all__ = ["Parts", "TargetChanges", "find_changes"]
