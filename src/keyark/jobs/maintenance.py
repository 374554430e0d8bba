"""The config's maintenance tasks, each a recorded run over its repositories.

- ``maintenance.check``: a check of each repository named (default: all), reading
  data when asked (``read_data``, ``read_data_subset``); a problem fails the run.
- ``maintenance.prune``: a prune of each.
- ``maintenance.rotate``: a data-key rotation of each repository whose current key is
  at least ``max_age_days`` old (a warning from ``warn_days``), re-encrypting when
  ``reencrypt`` is set.
- ``maintenance.drill``: a restore drill of each job's newest snapshot (or of the
  repositories named), see :mod:`keyark.drill.task`.

Each repository is one step; a failing step fails the run and the next repository
is still done (one bad repository does not hide the others' state).
"""

from __future__ import annotations

from keyark import ops
from keyark.config.document import CheckTask, DrillTask, KeyarkConfig, PruneTask, RotateTask
from keyark.context import OperationContext
from keyark.errors import CancelledError, KeyarkError
from keyark.events import Code
from keyark.jobs.deadline import RunDeadline
from keyark.jobs.recorder import RunRecorder
from keyark.jobs.repositories import RepositoryContexts
from keyark.units import parse_unused_limit


def run_maintenance(
    ctx: OperationContext,
    config: KeyarkConfig,
    kind: str,
    recorder: RunRecorder,
    deadline: RunDeadline,
    dry_run: bool,
) -> None:
    """Run the maintenance task ``kind`` (``check``, ``prune``, ``rotate``) into ``recorder``."""
    task = getattr(config.maintenance, kind)
    if isinstance(task, DrillTask):
        from keyark.drill.task import run_drill_task

        run_drill_task(ctx, config, task, recorder, deadline, dry_run)
        return
    repositories = RepositoryContexts(ctx, config)
    for name in repositories.names(task.repositories):
        step_name = f"{kind} {name}"
        if dry_run:
            recorder.add(step_name, "dry-run", detail=f"would {kind} repository {name}")
            continue
        try:
            with recorder.step(step_name) as step:
                repo = repositories.context(name)
                if isinstance(task, CheckTask):
                    step.detail = _check(repo, task)
                elif isinstance(task, PruneTask):
                    step.detail = _prune(repo, task)
                else:
                    step.detail = _rotate(repo, task, name)
        except CancelledError:
            raise  # the run stops: the runner records the cancel or timeout
        except KeyarkError as error:
            recorder.fail(*deadline.failure(error))


def _check(ctx: OperationContext, task: CheckTask) -> str:
    options = ops.CheckOptions(read_data=task.read_data, subset=task.read_data_subset)
    summary = ops.check(ctx, options)
    if not summary.ok:
        first = next(p for p in summary.problems if not p.harmless)
        raise _CheckFailedError(
            f"check found {len(summary.problems)} problem(s), first: {first.message}"
        )
    read = f", {summary.packs_read} pack(s) read" if summary.packs_read else ""
    return f"no errors: {summary.snapshots} snapshot(s), {summary.packs} pack(s){read}"


def _prune(ctx: OperationContext, task: PruneTask) -> str:
    options = ops.PruneOptions()
    if task.max_unused is not None:
        options = ops.PruneOptions(max_unused=parse_unused_limit(task.max_unused, "max_unused"))
    summary = ops.prune(ctx, options)
    return f"{summary.packs_deleted} pack(s) deleted, {summary.bytes_deleted} bytes freed"


def _rotate(ctx: OperationContext, task: RotateTask, name: str) -> str:
    status = ops.key_status(ctx, ops.KeyStatusOptions())
    current = next((epoch for epoch in status.epochs if epoch.id == status.current), None)
    age = 0.0 if current is None else current.age_days
    if age < task.max_age_days:
        if age >= task.warn_days:
            message = (
                f"repository {name}: the data key is {age:.0f} days old; "
                f"rotation is due at {task.max_age_days}"
            )
            ctx.events.warn(Code.ROTATION_DUE, message, subject=name)
        return f"not due: the data key is {age:.0f} days old (due at {task.max_age_days})"
    rotation = ops.key_rotate(ctx, ops.RotateOptions(reencrypt=task.reencrypt))
    done = "rotated and re-encrypted" if task.reencrypt else "rotated"
    return f"{done}: data key {rotation.current} is current (the old one was {age:.0f} days old)"


class _CheckFailedError(KeyarkError):
    """A scheduled check found damage."""

    code = "check"
