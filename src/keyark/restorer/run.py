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
from keyark.errors import Hint, NothingSelectedError, RestoreError, UsageError
from keyark.patterns import read_pattern_files
from keyark.repo.full_disk import read_lock
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.restorer import rollback
from keyark.restorer.header_index import plan_restore
from keyark.restorer.plan import PathFilter, RestorePlan
from keyark.restorer.restore_point import RestorePointRecord, point_before_restore
from keyark.restorer.restorer import OVERWRITE_MODES, Restorer
from keyark.restorer.target import check_target
from keyark.results import RestoreSummary


@dataclass
class RestoreOptions:
    """Options of ``restore``."""

    target: str
    #: Restore only entries these patterns match (restic's rules, see docs/patterns.md).
    includes: list[str] = field(default_factory=list)
    #: Skip entries these patterns match (and everything below a matching directory).
    excludes: list[str] = field(default_factory=list)
    #: The same, matched without regard to case.
    iincludes: list[str] = field(default_factory=list)
    iexcludes: list[str] = field(default_factory=list)
    #: Files of patterns, one a line (``#`` comments and blank lines skipped).
    include_files: list[str] = field(default_factory=list)
    exclude_files: list[str] = field(default_factory=list)
    iinclude_files: list[str] = field(default_factory=list)
    iexclude_files: list[str] = field(default_factory=list)
    verify: bool = False
    dry_run: bool = False
    #: Leave all-zero runs of files as holes (sparse files) instead of writing them.
    sparse: bool = False
    overwrite: str = "always"
    #: Afterwards remove the target's entries the snapshot lacks (among those the
    #: include/exclude filters select, below the restored directory); restic's ``--delete``.
    delete: bool = False
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
    #: Emit an ``ItemDone`` event per file, link and special entry restored (``restored``,
    #: ``updated``), kept (``unchanged``) or removed (``deleted``): restic's verbose listing.
    report_items: bool = False
    #: Choose among the snapshots of these hosts, with these tags, of these paths.
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    #: Before overwriting or deleting anything in an existing target, save what will
    #: change as a ``restore-point`` snapshot, and roll back to it if the restore fails.
    restore_point: bool = True


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
    check_restore_options(options)
    path_filter = restore_filter(options)
    # A shared lock: prune (exclusive) waits for or refuses a running restore, so no pack
    # the restore plans to read is deleted under it.
    with read_lock(repo, "restore", ctx.lock_wait, ctx.events):  # none on a full disk
        return _restore_locked(repo, snapshot, options, ctx, path_filter)


def check_restore_options(options: RestoreOptions) -> None:
    """Refuse malformed options before the repository is opened (:class:`UsageError`)."""
    if options.snapshot is not None and options.at is not None:
        raise UsageError(
            "name either a snapshot or a point in time, not both "
            "(the time picks the snapshot itself)"
        )
    if options.overwrite not in OVERWRITE_MODES:
        raise UsageError(f"overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    if not options.target:
        raise UsageError("restore needs a target directory")
    if not options.dry_run:
        check_target(options.target)


def restore_filter(options: RestoreOptions) -> PathFilter:
    """The include/exclude filter of ``options``, pattern files read (UsageError names one)."""
    return PathFilter(
        [*options.includes, *read_pattern_files(options.include_files)],
        [*options.excludes, *read_pattern_files(options.exclude_files)],
        iincludes=[*options.iincludes, *read_pattern_files(options.iinclude_files)],
        iexcludes=[*options.iexcludes, *read_pattern_files(options.iexclude_files)],
    )


def _restore_locked(
    repo: Repository,
    snapshot: Snapshot,
    options: RestoreOptions,
    ctx: OperationContext,
    path_filter: PathFilter | None = None,
) -> RestoreSummary:
    if path_filter is None:
        path_filter = restore_filter(options)
    repo.blobs.load_index(reload=True)  # packs prune replaced before our lock are gone now
    # Tolerant of damage: unreadable directories are listed, everything else restored.
    plan = plan_restore(repo, snapshot.tree, options.subpath, path_filter, ctx.events, ctx.cancel)
    if path_filter and plan.empty:
        where = "" if options.subpath in ("", "/") else f" below {options.subpath}"
        raise NothingSelectedError(
            f"the include/exclude patterns select nothing in snapshot {snapshot.id[:8]}{where}; "
            "nothing was restored (patterns match snapshot paths such as "
            f"{_example_path(snapshot)})",
            hint=Hint.LIST_PATHS,
        )
    summary = RestoreSummary(
        snapshot_id=snapshot.id,
        target=os.path.abspath(options.target),
        snapshot=snapshot.describe(),
    )
    restorer = Restorer(
        repo,
        options.target,
        summary,
        Tracker(ctx.events, "restore", ctx.cancel),
        overwrite=options.overwrite,
        drop_privileges=is_agent_snapshot(snapshot) and not options.keep_privileges,
        sparse=options.sparse,
        delete=path_filter if options.delete else None,
        items=options.report_items,
    )
    for path, reason in plan.unreadable:
        restorer.fail(path, reason)
    point, record = _restore_point(repo, snapshot, plan, options, ctx, path_filter)
    summary.restore_point = point.id if point else None
    # A failure, an interrupt or a verify mismatch puts the target back to the point.
    with rollback.guard(repo, point, record, summary, ctx):
        restorer.run(plan, dry_run=options.dry_run)
        if options.verify and not options.dry_run:
            restorer.verify(plan.files)
        if summary.failed:
            names = ", ".join(summary.failed[:5]) + (" ..." if len(summary.failed) > 5 else "")
            count = len(summary.failed)
            rest = "" if point else " (everything else was restored)"  # else: rolled back
            error = RestoreError(
                f"{count} {'entry' if count == 1 else 'entries'} could not be restored: "
                f"{names}{rest}"
            )
            error.summary = summary  # type: ignore[attr-defined]
            raise error
    return summary


def _restore_point(
    repo: Repository,
    snapshot: Snapshot,
    plan: RestorePlan,
    options: RestoreOptions,
    ctx: OperationContext,
    path_filter: PathFilter,
) -> tuple[Snapshot | None, RestorePointRecord | None]:
    """The restore point taken before writing (None: not wanted, or nothing to save)."""
    if not options.restore_point or options.dry_run:
        return None, None
    taken = point_before_restore(
        repo,
        snapshot,
        plan,
        ctx,
        target=options.target,
        subpath=options.subpath,
        overwrite=options.overwrite,
        delete=path_filter if options.delete else None,
    )
    return taken or (None, None)


def _example_path(snapshot: Snapshot) -> str:
    """One of the snapshot's paths, to show what patterns are matched against."""
    return snapshot.paths[0] if snapshot.paths else "/home/user/tls"


__all__ = ["RestoreOptions", "check_restore_options", "restore"]
