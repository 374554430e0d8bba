"""``run``: a job's whole pipeline (or a maintenance task), recorded in the run history.

A job of the config file (:class:`~keyark.config.document.JobSpec`) runs as ``before``
hooks, backup of its sources and command outputs, verify, forget by its retention
(then prune), copy to each ``copy_to`` repository, then ``after`` / ``on_error`` and
``finally`` hooks; ``maintenance.check`` / ``maintenance.prune`` /
``maintenance.rotate`` run the config's maintenance tasks. Each run is one row of the
history (:class:`~keyark.state.runs.RunStore`), its steps timed as they go. The
pipelines live in :mod:`keyark.jobs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.state.runs import RunRecord as RunRecord
from keyark.state.runs import RunStore as RunStore
from keyark.state.runs import StepRecord as StepRecord
from keyark.state.runs import default_state_dir as default_state_dir

_log = logging.getLogger(__name__)

#: The maintenance tasks a run may name, besides the config's jobs.
MAINTENANCE_TASKS: tuple[str, ...] = (
    "maintenance.check",
    "maintenance.prune",
    "maintenance.rotate",
    "maintenance.drill",
)


@dataclass(frozen=True)
class RunOptions:
    """Which job or task to run, from which config, and why."""

    config: KeyarkConfig
    #: A job name, or ``maintenance.check`` / ``maintenance.prune`` / ``maintenance.rotate``.
    task: str
    #: ``schedule``, ``catch-up``, ``manual`` or ``api``.
    trigger: str = "manual"
    #: The time the run was due (scheduled runs).
    scheduled: datetime | None = None
    #: Say what each step would do; change nothing (and record nothing).
    dry_run: bool = False
    #: The history's directory; None: the config's ``scheduler.state_dir`` or the default.
    state_dir: Path | None = None


@dataclass
class JobRun:
    """The run as recorded: final status, steps with their timings."""

    record: RunRecord
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = self.record.to_dict()
        data["dry_run"] = self.dry_run
        return data

    @property
    def exit_code(self) -> int:
        """0 success (or a dry run), 3 partial (some sources unreadable), 1 otherwise."""
        if self.dry_run or self.record.status == "success":
            return 0
        return 3 if self.record.status == "partial" else 1


def state_store(config: KeyarkConfig, state_dir: Path | None = None) -> RunStore:
    """The run history: on the shared control database when the config names one
    (``server.database``), else in ``state_dir``, the config's ``scheduler.state_dir`` or
    the default state directory."""
    if state_dir is None and config.scheduler.state_dir:
        state_dir = Path(config.scheduler.state_dir).expanduser()
    directory = state_dir or default_state_dir()
    if config.server.database:
        from keyark.control.database import open_database

        return RunStore(directory, database=open_database(directory, config.server.database))
    return RunStore(directory)


@operation("run", options=RunOptions, result=JobRun, mutates=True)
def run(ctx: OperationContext, options: RunOptions) -> JobRun:
    """Run a job's pipeline (or a maintenance task) and record it in the history."""
    from keyark.jobs.runner import run_task

    store = state_store(options.config, options.state_dir)
    record = run_task(
        ctx,
        options.config,
        options.task,
        store,
        trigger=options.trigger,
        scheduled=options.scheduled,
        dry_run=options.dry_run,
    )
    if not options.dry_run:
        _raise_alerts(options.config, store.directory, wait=options.trigger == "manual")
    return JobRun(record, options.dry_run)


def _raise_alerts(config: KeyarkConfig, state_dir: Path, *, wait: bool) -> None:
    """The run's job events (failed, partial, recovered, catch-up) as alerts, at once.

    A one-shot command (``wait``) waits for their delivery before it exits; the
    daemon does not (its monitor loop keeps the process alive). Never raises: an
    alert problem must not fail a run.
    """
    from keyark.monitor.service import flush_deliveries, job_round

    try:
        alerts = job_round(config, state_dir)
        if alerts and wait:
            flush_deliveries()
    except Exception as error:
        _log.warning("job alerts could not be raised: %s", error)
