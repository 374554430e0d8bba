"""The ``maintenance.drill`` task: a drill of each target (:func:`drill_targets`), one
step each, in the task's run. Each drill also writes its own ``drill`` row
(``drill:<job>``), so the monitor and metrics see every job's last drill; a drill that
fails fails the task's run, and the next target is still drilled."""

from __future__ import annotations

from keyark import ops
from keyark.config.document import DrillTask, KeyarkConfig
from keyark.context import OperationContext
from keyark.drill.history import DRILL_FAILED
from keyark.drill.plan import drill_targets, parse_sample
from keyark.errors import CancelledError, KeyarkError
from keyark.jobs.deadline import RunDeadline
from keyark.jobs.recorder import RunRecorder
from keyark.jobs.repositories import RepositoryContexts


def run_drill_task(
    ctx: OperationContext,
    config: KeyarkConfig,
    task: DrillTask,
    recorder: RunRecorder,
    deadline: RunDeadline,
    dry_run: bool,
) -> None:
    """Drill each target of ``task`` as one step of ``recorder``'s run."""
    repositories = RepositoryContexts(ctx, config)
    sample = None if task.full or task.sample is None else parse_sample(task.sample)
    state_dir = recorder.store.directory if recorder.store is not None else None
    for target in drill_targets(config, task):
        what = target.job or target.repository
        step_name = f"drill {what}"
        if dry_run:
            recorder.add(step_name, "dry-run", detail=f"would drill {what}")
            continue
        options = ops.DrillOptions(
            job=target.job,
            config=config,
            sample=sample,
            target=task.target,
            trigger=recorder.record.trigger,
            state_dir=state_dir,
        )
        try:
            with recorder.step(step_name) as step:
                result = ops.drill(repositories.context(target.repository), options)
                step.detail = _detail(result)
                if not result.ok:
                    step.status = "failed"
                    recorder.fail(f"{what}: {result.first_problem()}", DRILL_FAILED)
        except CancelledError:
            raise  # the run stops: the runner records the cancel or timeout
        except KeyarkError as error:
            recorder.fail(*deadline.failure(error))


def _detail(result: ops.DrillResult) -> str:
    outcome = "ok" if result.ok else "FAILED"
    return (
        f"snapshot {result.snapshot_id[:8]}: {result.files_verified} of "
        f"{result.files_sampled} file(s) verified ({result.sample}) in "
        f"{result.duration_seconds:.2f}s: {outcome}"
    )


__all__ = ["run_drill_task"]
