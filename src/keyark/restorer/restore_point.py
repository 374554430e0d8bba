"""Restore points: what a restore is about to change, saved as a snapshot first.

Before a restore overwrites or deletes anything in an existing target, exactly the
entries it will change (:mod:`keyark.restorer.changes`) are backed up as a snapshot
in the same repository, tagged ``restore-point``:

- files, links and specials the restore replaces, and entries ``--delete`` removes,
  are saved whole (a directory with everything below it);
- existing directories whose metadata the restore sets are saved as directories
  holding only the saved entries below them (their own mode, owner and times kept);
- the top-most entries the restore creates are listed in the record, so a rollback
  removes them.

The record (``extra["restore_point"]``, sealed with the snapshot) names the target,
the snapshot restored and what it creates. The snapshot's ``paths`` is
``restore-point:<target>``: never a backup source (those are absolute paths), so a
job's ``forget`` policy, which selects and groups by host and paths, never counts a
restore point, and a backup never takes one as its parent. Restore points have
their own retention (:mod:`keyark.restorer.restore_points`).

The write happens under the restore's shared lock (the kind a backup writes under).
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from keyark import __version__
from keyark.archiver import walk
from keyark.archiver.archiver import Archiver, _Dir
from keyark.archiver.filters import SourceFilter
from keyark.archiver.progress import Tracker
from keyark.archiver.sources import VirtualDir, virtual_dir
from keyark.context import OperationContext
from keyark.errors import BackendError, Hint, RestorePointError, SourceError
from keyark.repo.repository import Repository
from keyark.repo.snapshot import RESTORE_POINT_TAG, Snapshot, now
from keyark.restorer.changes import Parts, TargetChanges, find_changes
from keyark.restorer.plan import PathFilter, RestorePlan
from keyark.results import BackupSummary

TAG = RESTORE_POINT_TAG
#: The snapshot's ``extra`` key holding the record.
RECORD_KEY = "restore_point"
#: ``paths`` of a restore point: this prefix and the target (never a backup source).
PATH_PREFIX = "restore-point:"
#: The most created entries a record lists (a snapshot's lists are bounded).
MAX_CREATED = 50_000


@dataclass
class RestorePointRecord:
    """What a restore point records about the restore it precedes."""

    #: The restore target, absolute, as given.
    target: str
    #: The target with links resolved: where its entries sit in the point's tree.
    location: str
    #: The snapshot the restore restored (its full id), and the directory of it.
    snapshot: str
    subpath: str = "/"
    #: Top-most entries the restore created (``a/b`` below the target).
    created: list[str] = field(default_factory=list)
    #: False when more entries were created than a record lists (the rest are not removed).
    created_complete: bool = True

    def to_extra(self) -> dict[str, Any]:
        """The record as a snapshot's extension field."""
        return {
            "target": self.target,
            "location": self.location,
            "snapshot": self.snapshot,
            "subpath": self.subpath,
            "created": list(self.created),
            "created_complete": self.created_complete,
        }

    @classmethod
    def of(cls, snapshot: Snapshot) -> RestorePointRecord | None:
        """The record of ``snapshot``, or None when it is no restore point."""
        data = snapshot.extra.get(RECORD_KEY)
        if TAG not in snapshot.tags or not isinstance(data, dict):
            return None
        target, location = data.get("target"), data.get("location")
        restored = data.get("snapshot")
        if not (isinstance(target, str) and isinstance(location, str)):
            return None
        created = data.get("created")
        return cls(
            target=target,
            location=location,
            snapshot=restored if isinstance(restored, str) else "",
            subpath=str(data.get("subpath") or "/"),
            created=[c for c in created if isinstance(c, str)] if isinstance(created, list) else [],
            created_complete=data.get("created_complete") is not False,
        )


def selection(changes: TargetChanges, location: str) -> VirtualDir:
    """The tree to save: from ``/`` down to the target, then the changed entries.

    A replaced entry is saved whole; a directory whose metadata changes is a virtual
    directory (its own metadata, only the saved entries below it).
    """
    root = VirtualDir("/")
    base = [part for part in location.split("/") if part]
    whole: set[Parts] = set()
    for parts in sorted(changes.replaced, key=len):
        if any(parts[:depth] in whole for depth in range(1, len(parts))):
            continue
        whole.add(parts)
        node = virtual_dir(root, [*base, *parts[:-1]])
        node.children[parts[-1]] = "/" + "/".join((*base, *parts))
    for parts in sorted(changes.dirs, key=len):
        if any(parts[:depth] in whole for depth in range(1, len(parts) + 1)):
            continue
        virtual_dir(root, [*base, *parts])
    if not base:  # the target is "/": nothing above it
        return root
    virtual_dir(root, base)
    return root


class _SelectionArchiver(Archiver):
    """The archiver walking a given virtual tree (not one built from source paths)."""

    def run_selection(self, root: VirtualDir) -> bytes:
        """Save ``root``'s selection; return the root tree id."""
        try:
            root_fd = walk.open_root()
            try:
                saved: Future[bytes] = self._save_entries(
                    root_fd, sorted(root.children.items()), _Dir(None, None, False)
                )
            finally:
                os.close(root_fd)
            return saved.result()
        finally:
            self._shutdown()


def take_restore_point(
    repo: Repository,
    changes: TargetChanges,
    record: RestorePointRecord,
    ctx: OperationContext,
) -> Snapshot:
    """Save what the restore will change as a ``restore-point`` snapshot; return it.

    Raises :class:`RestorePointError` when anything to save cannot be read or the
    snapshot cannot be written: the restore must not go on without it.
    """
    created = sorted("/".join(parts) for parts in changes.created)
    record.created = created[:MAX_CREATED]
    record.created_complete = len(created) <= MAX_CREATED
    summary = BackupSummary()
    tracker = Tracker(ctx.events, "restore-point", ctx.cancel)
    started = now()
    try:
        repo.refresh_keys()
        sealing_key = repo.sealing_key
        archiver = _SelectionArchiver(
            repo,
            SourceFilter.build(),
            summary,
            tracker,
            force=True,
            inventory=None,
        )
        tree = archiver.run_selection(selection(changes, record.location))
        if summary.errors:
            raise RestorePointError(
                "the restore point could not save what the restore would change "
                f"({summary.errors[0]}); nothing was restored",
                hint=Hint.NO_RESTORE_POINT,
            )
        ctx.cancel.check()
        repo.require_current_key(sealing_key)
        repo.blobs.flush()
        snapshot = Snapshot(
            time=started,
            host=socket.gethostname(),
            username=ctx.actor.user,
            uid=os.getuid(),
            gid=os.getgid(),
            paths=[PATH_PREFIX + record.target],
            tree=tree,
            tags=[TAG],
            summary={"files_new": summary.files_new, "data_added": summary.data_added},
            program_version=f"keyark {__version__}",
            extra={RECORD_KEY: record.to_extra()},
        )
        snapshot.id = repo.snapshots.save(snapshot)
    except (BackendError, SourceError) as error:
        raise RestorePointError(
            f"the restore point could not be saved ({error}); nothing was restored",
            hint=Hint.NO_RESTORE_POINT,
        ) from None
    return snapshot


def point_before_restore(
    repo: Repository,
    restored: Snapshot,
    plan: RestorePlan,
    ctx: OperationContext,
    *,
    target: str,
    subpath: str,
    overwrite: str,
    delete: PathFilter | None,
) -> tuple[Snapshot, RestorePointRecord] | None:
    """Take the restore point of restoring ``plan`` into ``target``; None when the
    restore overwrites, deletes and re-sets nothing that exists (a new or empty target)."""
    changes = find_changes(target, plan, overwrite, delete, ctx.cancel)
    if changes is None or not changes.touches_existing:
        return None
    if ctx.config is not None and ctx.config.no_lock:
        raise RestorePointError(
            "a restore point is saved in the repository, which needs its lock; restore "
            "with the lock, or without a restore point",
            hint=Hint.NO_RESTORE_POINT,
        )
    record = RestorePointRecord(
        target=os.path.abspath(target),
        location=os.path.realpath(target),
        snapshot=restored.id,
        subpath=subpath,
    )
    return take_restore_point(repo, changes, record, ctx), record


__all__ = [
    "MAX_CREATED",
    "PATH_PREFIX",
    "RECORD_KEY",
    "TAG",
    "RestorePointRecord",
    "point_before_restore",
    "selection",
    "take_restore_point",
]
