"""``rollback`` and ``restore-points list|forget``: restore points (see docs/recovery.md).

A restore over an existing target first saves what it will change as a restore
point (a ``restore-point`` snapshot); a failed, interrupted or unverified restore is
rolled back to it at once. ``rollback`` undoes a completed (or killed) restore on
request; restore points have their own retention.

Locks: ``rollback`` and ``restore-points list`` take the shared lock (like restore,
they change no repository object); ``restore-points forget`` deletes snapshots under
the exclusive lock, as ``forget`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from keyark.context import OperationContext
from keyark.errors import KeyarkError
from keyark.events import Code
from keyark.maintenance.forget import ForgetOptions
from keyark.maintenance.forget import forget as run_forget
from keyark.maintenance.usage import read_snapshots
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.full_disk import read_lock
from keyark.repo.repository import Repository
from keyark.repo.snapshot import now
from keyark.restorer.restore_points import RestorePoint as RestorePoint
from keyark.restorer.restore_points import choose, expired, matching, restore_points
from keyark.restorer.rollback import roll_back
from keyark.units import parse_seconds


@dataclass
class RollbackOptions:
    """Options of ``rollback``."""

    #: The restore point (an id or prefix); None: the newest one for ``target``.
    restore_point: str | None = None
    #: The target whose newest restore point to use (when none is named).
    target: str | None = None
    #: Only restore points taken on this host (None: any).
    host: str | None = None


@dataclass
class RollbackResult:
    """What a rollback put back."""

    restore_point: str
    target: str
    #: The snapshot whose restore was undone.
    restored_snapshot: str
    #: Entries the restore had created, removed.
    removed: int
    files_restored: int
    dirs_restored: int
    symlinks_restored: int
    bytes_restored: int

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {"message_type": "summary", **self.__dict__}


@dataclass
class RestorePointsListOptions:
    """Options of ``restore-points list``."""

    #: Only the restore points of this target / host (None: all).
    target: str | None = None
    host: str | None = None


@dataclass
class RestorePointsList:
    """The restore points, oldest first."""

    points: list[RestorePoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"restore_points": [...]}``."""
        return {"restore_points": [p.to_dict() for p in self.points]}


@dataclass
class RestorePointsForgetOptions:
    """Options of ``restore-points forget``: ids, or a retention over the selection."""

    ids: list[str] = field(default_factory=list)
    #: Keep the newest N restore points of each host and target.
    keep_last: int | None = None
    #: Remove restore points older than this (``30d``, ``12h``).
    older_than: str | None = None
    target: str | None = None
    host: str | None = None
    dry_run: bool = False


@dataclass
class RestorePointsForgetResult:
    """The restore points removed (in a dry run: to remove) and those kept."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {"message_type": "summary", **self.__dict__}


def _points(repo: Repository, ctx: OperationContext) -> list[RestorePoint]:
    def unreadable(snapshot_id: str, error: KeyarkError) -> None:
        message = f"snapshot {snapshot_id[:8]} cannot be read and is left alone: {error}"
        ctx.events.warn(Code.SNAPSHOT_DAMAGED, message, subject=snapshot_id)

    return restore_points(read_snapshots(repo, unreadable, ctx.cancel), repo.keys.keyring)


@operation(
    "rollback", options=RollbackOptions, result=RollbackResult, mutates=False, reads_secrets=True
)
def rollback(ctx: OperationContext, options: RollbackOptions) -> RollbackResult:
    """Put a restore's target back as its restore point saved it (undo the restore)."""
    with opened(ctx) as repo, read_lock(repo, "rollback", ctx.lock_wait, ctx.events):
        point = choose(_points(repo, ctx), options.restore_point, options.target, options.host)
        repo.blobs.load_index(reload=True)
        summary, removed = roll_back(repo, point.snapshot, point.record, ctx.events, ctx.cancel)
    return RollbackResult(
        restore_point=point.snapshot.id,
        target=point.record.target,
        restored_snapshot=point.record.snapshot,
        removed=removed,
        files_restored=summary.files_restored,
        dirs_restored=summary.dirs_restored,
        symlinks_restored=summary.symlinks_restored,
        bytes_restored=summary.bytes_restored,
    )


@operation(
    "restore-points list",
    options=RestorePointsListOptions,
    result=RestorePointsList,
    mutates=False,
)
def restore_points_list(
    ctx: OperationContext, options: RestorePointsListOptions
) -> RestorePointsList:
    """List the restore points (oldest first)."""
    with opened(ctx) as repo, read_lock(repo, "restore-points", ctx.lock_wait, ctx.events):
        points = _points(repo, ctx)
    return RestorePointsList(matching(points, options.target, options.host))


@operation(
    "restore-points forget",
    options=RestorePointsForgetOptions,
    result=RestorePointsForgetResult,
    mutates=True,
)
def restore_points_forget(
    ctx: OperationContext, options: RestorePointsForgetOptions
) -> RestorePointsForgetResult:
    """Remove restore points: those named, or those their retention does not keep."""
    age = None
    if options.older_than is not None:
        age = timedelta(seconds=parse_seconds(options.older_than, "older than"))
    with opened(ctx) as repo:
        points = matching(_points(repo, ctx), options.target, options.host)
        if options.ids:
            doomed = [choose(points, ref, None, None) for ref in options.ids]
        else:
            doomed = expired(points, options.keep_last, age, now())
        ids = sorted({p.snapshot.id for p in doomed})
        if ids:  # forget deletes them under the exclusive lock
            run_forget(repo, ForgetOptions(ids=ids, dry_run=options.dry_run), ctx)
    kept = [p.snapshot.id for p in points if p.snapshot.id not in ids]
    return RestorePointsForgetResult(removed=ids, kept=kept, dry_run=options.dry_run)
