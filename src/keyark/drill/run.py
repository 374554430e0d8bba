"""One restore drill: restore the chosen files of a snapshot into a scratch directory
of its own, re-read every restored byte against the snapshot, compare with the live
source, and remove the scratch directory (also when the drill fails or is cancelled).

The restore goes through the restorer (:class:`~keyark.restorer.restorer.Restorer`,
under a shared lock, reading past index damage as ``restore`` does); a file whose
blobs cannot be read or whose restored bytes differ from the snapshot is a failure
naming that file. Device nodes and FIFOs are left out (they hold no data and need
privileges to make).
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass

from keyark.archiver.progress import Tracker
from keyark.catalog.snapshots import require_trusted
from keyark.context import OperationContext
from keyark.drill.live import compare_live
from keyark.drill.plan import choose_sample, sample_text
from keyark.drill.result import DrillResult
from keyark.repo.full_disk import read_lock
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.restorer.header_index import plan_restore
from keyark.restorer.plan import PathFilter, RestorePlan
from keyark.restorer.restorer import Restorer
from keyark.results import RestoreSummary

#: The scratch directory's name prefix (a drill killed outright leaves one behind).
SCRATCH_PREFIX = "keyark-drill-"


@dataclass(frozen=True)
class DrillSettings:
    """How much to restore, and where the scratch directory is made."""

    #: Percentage of the files (None: all of them).
    percent: float | None = None
    #: The directory the scratch directory is made in (None: the system's temporary one).
    parent: str | None = None
    #: Seed of the random sample (None: a fresh one each drill).
    seed: int | None = None
    #: ``time.monotonic()`` when the drill began (None: when :func:`run_drill` is called);
    #: the measured time runs from there (opening the repository counts) to the last
    #: verified byte.
    started: float | None = None


def run_drill(
    repo: Repository, snapshot: Snapshot, settings: DrillSettings, ctx: OperationContext
) -> DrillResult:
    """Drill ``snapshot``; the result names every file that failed."""
    began = time.monotonic() if settings.started is None else settings.started
    require_trusted(repo, snapshot, False, "drill")
    result = DrillResult(snapshot_id=snapshot.id, sample=sample_text(settings.percent))
    with read_lock(repo, "drill", ctx.lock_wait, ctx.events):
        repo.blobs.load_index(reload=True)
        full = plan_restore(repo, snapshot.tree, "/", PathFilter(), ctx.events, ctx.cancel)
        plan = _sampled(full, settings)
        result.files_total = len(full.files)
        result.files_sampled = len(plan.files)
        scratch = _make_scratch(settings.parent)
        try:
            restore_started = time.monotonic()
            summary = _restore(repo, snapshot, plan, scratch, ctx)
            ended = time.monotonic()
            result.restore_seconds = round(ended - restore_started, 3)
            result.duration_seconds = round(ended - began, 3)
            result.files_restored = summary.files_restored
            result.files_verified = summary.files_verified
            result.bytes_restored = summary.bytes_restored
            result.failed = list(summary.failed)
            for message in summary.errors:
                result.problem(message)
            failed = set(summary.failed)
            verified = [e for e in plan.files if plan.shown(e.parts) not in failed]
            compare_live(scratch, verified, result.live, ctx.cancel)
        finally:
            remove_scratch(scratch)
    scaled = _estimate(result.restore_seconds, plan, full)
    result.estimated_full_seconds = round(
        result.duration_seconds - result.restore_seconds + scaled, 3
    )
    return result


def _sampled(full: RestorePlan, settings: DrillSettings) -> RestorePlan:
    """The plan of the sample: its files and the directories above them (every file,
    directory and symlink for a full drill)."""
    rng = random.Random(settings.seed)  # a sample, not a secret
    files = choose_sample(full.files, settings.percent, rng)
    full_drill = len(files) == len(full.files)
    if full_drill:
        dirs = full.dirs
    else:
        above = {entry.parts[:depth] for entry in files for depth in range(1, len(entry.parts))}
        dirs = [entry for entry in full.dirs if entry.parts in above]
    return RestorePlan(
        dirs=dirs,
        files=files,
        symlinks=full.symlinks if full_drill else [],
        refused=full.refused,
        unreadable=full.unreadable,
        base=full.base,
    )


def _restore(
    repo: Repository, snapshot: Snapshot, plan: RestorePlan, scratch: str, ctx: OperationContext
) -> RestoreSummary:
    summary = RestoreSummary(snapshot_id=snapshot.id, target=scratch)
    restorer = Restorer(
        repo,
        scratch,
        summary,
        Tracker(ctx.events, "drill", ctx.cancel),
        drop_privileges=is_agent_snapshot(snapshot),
    )
    for path, reason in plan.unreadable:
        restorer.fail(path, reason)
    restorer.run(plan)
    restorer.verify(plan.files)
    return summary


def _estimate(seconds: float, plan: RestorePlan, full: RestorePlan) -> float:
    """The whole snapshot's restore time, scaled from the sample by bytes (by files when
    the sample holds no bytes)."""
    if plan.total_bytes:
        return round(seconds * full.total_bytes / plan.total_bytes, 3)
    if plan.files:
        return round(seconds * len(full.files) / len(plan.files), 3)
    return seconds


def _make_scratch(parent: str | None) -> str:
    """A fresh 0700 directory under ``parent`` (made 0700 when missing)."""
    if parent is not None:
        os.makedirs(parent, mode=0o700, exist_ok=True)
    return tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent)


def remove_scratch(scratch: str) -> None:
    """Remove the scratch directory, also where the restore left directories read-only."""

    def writable_again(_function: object, path: str, _error: object) -> None:
        parent = os.path.dirname(path)
        for place in (parent, path):
            try:
                mode = os.lstat(place).st_mode
                if stat.S_ISDIR(mode):
                    os.chmod(place, stat.S_IMODE(mode) | stat.S_IRWXU)
            except OSError:
                pass
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    for root, dirs, _files in os.walk(scratch):
        for name in dirs:
            place = os.path.join(root, name)
            if not os.path.islink(place):
                os.chmod(place, stat.S_IRWXU)
    shutil.rmtree(scratch, onerror=writable_again)


__all__ = ["SCRATCH_PREFIX", "DrillSettings", "remove_scratch", "run_drill"]
