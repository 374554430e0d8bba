"""The restore pipeline on an open repository: lock, plan, write, verify.

:func:`restore` holds a shared lock (so prune cannot delete a pack it reads),
plans the snapshot's entries reading past index damage
(:func:`~keyark.restorer.header_index.plan_restore`), writes them
(:class:`~keyark.restorer.restorer.Restorer`) and, if asked, verifies them.
Progress, warnings (``restore.entry``, ``index.damaged``) and the cancel checks go
through the operation's context.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

from keyark.archiver.progress import Tracker
from keyark.catalog.snapshots import require_trusted
from keyark.context import OperationContext
from keyark.errors import RestoreError, UsageError
from keyark.events import Code
from keyark.repo.full_disk import read_lock
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.restorer.header_index import plan_restore
from keyark.restorer.plan import PathFilter
from keyark.restorer.restorer import OVERWRITE_MODES, Restorer
from keyark.results import RestoreSummary


@dataclass
class RestoreOptions:
    """Options of ``restore``."""

    target: str
    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    verify: bool = False
    dry_run: bool = False
    overwrite: str = "always"
    #: Restore only this directory of the snapshot (``SNAPSHOT:subdir`` in restic).
    subpath: str = "/"
    #: Restore a snapshot that no registered agent signed (normally refused).
    allow_unsigned: bool = False
    #: Keep setuid/setgid bits and security.*, trusted.*, system.* xattrs of an agent
    #: snapshot (normally dropped: an agent must not plant privileges on the restore host).
    keep_privileges: bool = False
    #: Which snapshot: an id, a unique id prefix or ``latest`` (None with ``at``: latest).
    snapshot: str | None = None
    #: The newest trusted snapshot at or before this time (point-in-time recovery).
    at: datetime | None = None
    #: Choose among the snapshots of these hosts, with these tags, of these paths.
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)


def restore(
    repo: Repository, snapshot: Snapshot, options: RestoreOptions, ctx: OperationContext
) -> RestoreSummary:
    """Restore ``snapshot`` into ``options.target``.

    Raises :class:`RestoreError` naming what could not be restored, after
    restoring everything else; the summary is attached as ``error.summary``. A
    directory whose listing is unreadable is named ``/path/...``; blobs an unreadable
    index file listed are found from the pack headers (with an ``index.damaged``
    warning). Cancelled, it stops at the next file or pack range, removes its
    temporary files and releases its lock.
    """
    require_trusted(repo, snapshot, options.allow_unsigned, "restore")
    if options.overwrite not in OVERWRITE_MODES:
        raise UsageError(f"overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    if not options.target:
        raise UsageError("restore needs a target directory")
    # A shared lock: prune (exclusive) waits for or refuses a running restore, so no pack
    # the restore plans to read is deleted under it.
    with read_lock(repo, "restore", ctx.lock_wait, ctx.events):  # none on a full disk
        return _restore_locked(repo, snapshot, options, ctx)


def _restore_locked(
    repo: Repository, snapshot: Snapshot, options: RestoreOptions, ctx: OperationContext
) -> RestoreSummary:
    repo.blobs.load_index(reload=True)  # packs prune replaced before our lock are gone now
    # Tolerant of damage: unreadable directories are listed, everything else restored.
    path_filter = PathFilter(options.includes, options.excludes)
    plan = plan_restore(repo, snapshot.tree, options.subpath, path_filter, ctx.events, ctx.cancel)
    summary = RestoreSummary(
        snapshot_id=snapshot.id,
        target=os.path.abspath(options.target),
        snapshot=snapshot.describe(),
    )
    for path, reason in plan.unreadable:
        summary.failed.append(path)
        summary.errors.append(f"{path}: {reason}")
        ctx.events.warn(Code.RESTORE_ENTRY, f"{path}: {reason}", subject=path)
    restorer = Restorer(
        repo,
        options.target,
        summary,
        Tracker(ctx.events, "restore", ctx.cancel),
        overwrite=options.overwrite,
        drop_privileges=is_agent_snapshot(snapshot) and not options.keep_privileges,
    )
    restorer.run(plan, dry_run=options.dry_run)
    if options.verify and not options.dry_run:
        restorer.verify(plan.files)
    if summary.failed:
        names = ", ".join(summary.failed[:5]) + (" ..." if len(summary.failed) > 5 else "")
        error = RestoreError(
            f"{len(summary.failed)} entries could not be restored: {names} "
            "(everything else was restored)"
        )
        error.summary = summary  # type: ignore[attr-defined]
        raise error
    return summary


__all__ = ["RestoreOptions", "restore"]
