"""One run of a task (a job or a maintenance task): its record, token, status.

:func:`run_task` starts the history row, runs the task under a
:class:`~keyark.jobs.deadline.RunDeadline` (the caller's cancel token and the task's
timeout) and ends the row with its status: ``success``; ``partial`` when some
sources could not be read; ``failed`` otherwise, with the error and its code
(``timeout`` or ``cancelled`` when the run was stopped). A failing run is a result,
not an exception; an unknown task name is a :class:`~keyark.errors.UsageError`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.errors import KeyarkError, UsageError
from keyark.jobs.deadline import RunDeadline
from keyark.jobs.recorder import RunRecorder, StepFailedError
from keyark.state.runs import RunRecord, RunStore

if TYPE_CHECKING:
    from keyark.audit.policy import AuditPolicy

#: Maintenance task name -> the history's ``kind`` of its runs.
MAINTENANCE_KINDS = {
    "maintenance.check": "check",
    "maintenance.prune": "prune",
    "maintenance.rotate": "rotate",
    "maintenance.drill": "drill",
}


def task_kind(config: KeyarkConfig, task: str) -> str:
    """``backup`` for a job, ``check``/``prune``/``rotate`` for maintenance; else UsageError."""
    if task in config.jobs:
        return "backup"
    if task in MAINTENANCE_KINDS:
        section = getattr(config.maintenance, MAINTENANCE_KINDS[task])
        if section is None:
            raise UsageError(f"the config has no maintenance {MAINTENANCE_KINDS[task]} task")
        return MAINTENANCE_KINDS[task]
    known = ", ".join(sorted(config.jobs)) or "none"
    raise UsageError(f"no job named {task!r} in the config (jobs: {known})")


def task_timeout(config: KeyarkConfig, task: str) -> timedelta | None:
    """The task's time limit, if it has one."""
    if task in config.jobs:
        return config.jobs[task].timeout
    section = getattr(config.maintenance, MAINTENANCE_KINDS[task])
    timeout: timedelta | None = section.timeout
    return timeout


def config_audit_policy(config: KeyarkConfig) -> AuditPolicy:
    """The audit settings of this config file (not of whichever file the search finds)."""
    from keyark.audit.policy import AuditPolicy

    return AuditPolicy.from_section(config.audit)


def run_task(
    ctx: OperationContext,
    config: KeyarkConfig,
    task: str,
    store: RunStore,
    *,
    trigger: str = "manual",
    scheduled: datetime | None = None,
    dry_run: bool = False,
) -> RunRecord:
    """Run ``task`` and record it in ``store`` (a dry run records nothing)."""
    if not dry_run and task not in MAINTENANCE_KINDS:  # an enrolled agent's config: pull it
        from keyark.fleet.agent_runs import before_run

        config = before_run(ctx, config, task)
    kind = task_kind(config, task)
    record = RunRecord(job=task, kind=kind, trigger=trigger, scheduled=scheduled)
    recorder = RunRecorder(record, None if dry_run else store)
    recorder.start()
    deadline = RunDeadline(ctx.cancel, None if dry_run else task_timeout(config, task))
    try:
        with deadline as token:
            run_ctx = replace(ctx, cancel=token, audit=ctx.audit or config_audit_policy(config))
            if kind == "backup":
                from keyark.jobs.pipeline import JobPipeline

                job = config.jobs[task]
                JobPipeline(run_ctx, config, task, job, recorder, deadline, dry_run).run()
            else:
                from keyark.jobs.maintenance import run_maintenance

                run_maintenance(run_ctx, config, kind, recorder, deadline, dry_run)
    except StepFailedError:
        pass  # the recorder holds the failure
    except KeyarkError as error:
        recorder.fail(*deadline.failure(error))
    except Exception as error:  # a bug must still end the row
        recorder.fail(f"internal error: {type(error).__name__}: {error}", "internal")
        recorder.finish()
        raise
    finished = recorder.finish()
    if kind == "backup" and not dry_run:  # an enrolled agent's run reports to its server
        from keyark.fleet.agent_runs import after_run

        after_run(ctx, config, finished)
    return finished
