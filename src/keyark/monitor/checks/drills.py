"""``drill``: age and result of the last restore drill of each job (or repository).

The subjects are the targets of ``maintenance.drill`` (each job named, each repository
named, else every job); without a drill task, the jobs and repositories the history
holds drills of. A failed last drill is a WARNING, and so is a last successful drill
older than the task's cadence (plus a grace of a twelfth of it, at most two hours: one
missed drill). Without a drill task and no drill in the history the result is INFO
(nothing tests restores).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyark.config.document import KeyarkConfig
from keyark.drill.history import PREFIX
from keyark.drill.plan import drill_targets
from keyark.monitor.environment import CheckEnvironment
from keyark.monitor.model import CheckResult, Level
from keyark.state.runs import RunRecord

#: The history's name of the scheduled drill task.
TASK = "maintenance.drill"
#: The most a drill may be late past its cadence before it counts as missed.
_MAX_GRACE = timedelta(hours=2)
_ENDED = ("success", "partial", "failed")


def drill(env: CheckEnvironment) -> list[CheckResult]:
    """Each drilled job's (or repository's) last drill: its result and age."""
    cadence = _cadence(env.config, env.now)
    subjects = _subjects(env)
    if not subjects:
        message = "no restore drill is configured (maintenance.drill)"
        return [CheckResult("drill", TASK, Level.INFO, message)]
    return [_result(env, name, cadence) for name in subjects]


def _subjects(env: CheckEnvironment) -> list[str]:
    task = env.config.maintenance.drill
    if task is not None:
        names = [target.job or target.repository for target in drill_targets(env.config, task)]
        return list(dict.fromkeys(names))
    known = [*env.config.jobs, *env.config.repositories]
    return [name for name in dict.fromkeys(known) if env.runs.last(PREFIX + name) is not None]


def _cadence(config: KeyarkConfig, now: datetime) -> timedelta | None:
    """The time between two scheduled drills (None: no scheduled drill)."""
    task = config.maintenance.drill
    if task is None:
        return None
    zone = config.scheduler.zone()
    first = task.schedule.next_after(now, zone)
    return task.schedule.next_after(first, zone) - first


def _result(env: CheckEnvironment, name: str, cadence: timedelta | None) -> CheckResult:
    threshold = "none" if cadence is None else f"one missed drill ({_span(cadence)})"
    ended = [r for r in env.runs.runs(PREFIX + name, limit=50) if r.status in _ENDED]
    if not ended:
        return CheckResult("drill", name, Level.OK, "no drill yet", None, threshold)
    newest = ended[-1]
    successes = [r for r in ended if r.status == "success"]
    if newest.status != "success":
        message = f"the last drill failed: {newest.error or 'no reason recorded'}"
        return CheckResult("drill", name, Level.WARNING, message, None, threshold)
    when = _moment(successes[-1]) or env.now
    age = max(timedelta(0), env.now.astimezone(UTC) - when)
    took = "" if newest.duration is None else f" (restored in {newest.duration:.1f}s)"
    message = f"last drill passed {_span(age)} ago{took}"
    level = Level.OK
    if cadence is not None and age > cadence + min(cadence / 12, _MAX_GRACE):
        level = Level.WARNING
        message += f"; older than the drill cadence of {_span(cadence)}"
    hours = round(age.total_seconds() / 3600, 2)
    return CheckResult("drill", name, level, message, hours, threshold)


def _moment(record: RunRecord) -> datetime | None:
    found = record.finished or record.started
    if found is None:
        return None
    return (found if found.tzinfo else found.replace(tzinfo=UTC)).astimezone(UTC)


def _span(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
