"""The restore pipeline entry (repository level)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from keyark.archiver.archiver import Progress
from keyark.errors import RestoreError, UsageError
from keyark.ops._compat import Context
from keyark.ops._snapshots import require_trusted
from keyark.repo.full_disk import read_lock
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
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


def restore(
    repo: Repository,
    snapshot: Snapshot,
    options: RestoreOptions,
    *,
    ctx: Context | None = None,
    progress: Progress | None = None,
) -> RestoreSummary:
    """Restore ``snapshot`` into ``options.target``.

    Raises :class:`RestoreError` naming what could not be restored, after
    restoring everything else; the summary is attached as ``error.summary``. A
    directory whose listing is unreadable is named ``/path/...``; blobs an unreadable
    index file listed are found from the pack headers (with a warning naming
    ``keyark repair index``).
    """
    ctx = ctx or Context()
    require_trusted(repo, snapshot, options.allow_unsigned, "restore")
    if options.overwrite not in OVERWRITE_MODES:
        raise UsageError(f"--overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    if not options.target:
        raise UsageError("restore needs a --target directory")
    # A shared lock: prune (exclusive) waits for or refuses a running restore, so no pack
    # the restore plans to read is deleted under it.
    with read_lock(repo, "restore", ctx.retry_lock, ctx.warn):  # none on a full disk
        return _restore_locked(repo, snapshot, options, ctx, progress)


def _restore_locked(
    repo: Repository,
    snapshot: Snapshot,
    options: RestoreOptions,
    ctx: Context,
    progress: Progress | None,
) -> RestoreSummary:
    repo.load_index(reload=True)  # packs prune replaced before our lock are gone now
    # Tolerant of damage: unreadable directories are listed, everything else restored.
    path_filter = PathFilter(options.includes, options.excludes)
    plan = plan_restore(repo, snapshot.tree, options.subpath, path_filter, ctx.warn)
    summary = RestoreSummary(snapshot_id=snapshot.id, target=os.path.abspath(options.target))
    for path, reason in plan.unreadable:
        summary.failed.append(path)
        summary.errors.append(f"{path}: {reason}")
        if ctx.warn is not None:
            ctx.warn(f"{path}: {reason}")
    restorer = Restorer(
        repo,
        options.target,
        summary,
        options.overwrite,
        progress,
        ctx.warn,
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
