"""``drill``: a restore drill of a snapshot (a job's newest, a named one, or the newest).

Restores all the snapshot's files, or a random sample, into a scratch directory of its
own, verifies every restored byte against the snapshot, compares with the live source
where it is unchanged since the snapshot, measures the time (the restore time
objective) and removes the scratch directory. Each drill is a ``drill`` row of the run
history (:mod:`keyark.drill.history`). A drill that finds damage returns ``ok`` false
naming the files (the row says ``failed``); nothing in the repository changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from keyark.catalog.snapshots import find_snapshot
from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.drill.history import finish_record, start_record, subject
from keyark.drill.plan import job_selection, job_spec
from keyark.drill.plan import parse_sample as parse_sample
from keyark.drill.result import DrillResult as DrillResult
from keyark.drill.result import LiveComparison as LiveComparison
from keyark.drill.run import DrillSettings
from keyark.drill.run import run_drill as run_drill_pipeline
from keyark.errors import KeyarkError, UsageError
from keyark.ops.catalogue import operation
from keyark.ops.jobs import state_store
from keyark.ops.session import opened
from keyark.state.runs import RunStore, default_state_dir


@dataclass(frozen=True)
class DrillOptions:
    """What to drill, how much of it, where to restore, and where to record it."""

    #: A snapshot id, unique prefix or ``latest`` (None: the job's newest, else the newest).
    snapshot: str | None = None
    #: A job of ``config``: drill its newest snapshot in its repository.
    job: str | None = None
    #: The config file (the job, the repository's name, the history's directory).
    config: KeyarkConfig | None = None
    #: Percentage of the files to restore, chosen at random (None: every file).
    sample: float | None = None
    #: The directory the scratch directory is made in (None: the system's temporary one).
    target: str | None = None
    #: ``manual``, ``schedule``, ``catch-up`` or ``api`` (as the history records it).
    trigger: str = "manual"
    #: The history's directory; None: the config's ``scheduler.state_dir`` or the default.
    state_dir: Path | None = None
    #: Seed of the random sample (None: a fresh sample each drill).
    seed: int | None = None


@operation("drill", options=DrillOptions, result=DrillResult, mutates=False)
def drill(ctx: OperationContext, options: DrillOptions) -> DrillResult:
    """Restore a snapshot (or a sample) into a scratch directory, verify every byte,
    compare with the live source and time it; recorded in the run history."""
    if options.sample is not None and not 0 < options.sample <= 100:
        raise UsageError("the sample must be above 0% and at most 100% of the files")
    if options.job is not None:
        if options.config is None:
            raise UsageError("a drill of a job needs the config file that defines it")
        spec = job_spec(options.config, options.job)
        repository = options.config.repository(spec.repository)
        if ctx.config is None or ctx.url != repository.repository.url:
            ctx = ctx.with_config(repository)
    began = time.monotonic()
    name = subject(ctx, options.config, options.job)
    recorder = start_record(_store(options), name, options.trigger)
    try:
        with opened(ctx) as repo:
            selection = None
            if options.job is not None and options.config is not None:
                selection = job_selection(options.config, options.job)
            chosen = find_snapshot(repo, options.snapshot or "latest", ctx, selection)
            settings = DrillSettings(options.sample, options.target, options.seed, began)
            result = run_drill_pipeline(repo, chosen, settings, ctx)
    except KeyarkError as error:
        recorder.fail(str(error), error.code)
        recorder.finish()
        raise
    except BaseException as error:  # an interrupt or a bug still ends the row
        code = "internal" if isinstance(error, Exception) else "cancelled"
        recorder.fail(str(error) or type(error).__name__, code)
        recorder.finish()
        raise
    result.subject = name
    finish_record(recorder, result)
    return result


def _store(options: DrillOptions) -> RunStore:
    """``state_dir``, else the config's ``scheduler.state_dir``, else the default."""
    if options.config is not None:
        return state_store(options.config, options.state_dir)
    return RunStore(options.state_dir or default_state_dir())
