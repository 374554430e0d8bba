"""``backup_age`` and ``last_run``: each job's run history against its own cadence.

``backup_age`` counts the job's scheduled times since its last successful run that
are past a grace period (a twelfth of the cadence, at most two hours, so a daily job
warns at 26 hours): one missed run is a WARNING, two are CRITICAL. A weekly job is
therefore late after a week, never after a day. ``backup_age_warning_hours`` /
``backup_age_critical_hours`` replace the count when set (and are all a job without a
schedule is measured against).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

from keyark.config.document import JobSpec
from keyark.config.schedule import Schedule
from keyark.monitor.environment import CheckEnvironment
from keyark.monitor.model import CheckResult, Level
from keyark.state.runs import RunRecord

#: The statuses a run ends with (skipped and missed times are not runs).
_ENDED = ("success", "partial", "failed")
#: The most a run may take past its time before the time counts as missed.
_MAX_GRACE = timedelta(hours=2)


def backup_age(env: CheckEnvironment) -> list[CheckResult]:
    """Hours since each job's last successful run, against its cadence or the overrides."""
    return [_backup_age(env, name, job) for name, job in env.config.jobs.items()]


def last_run(env: CheckEnvironment) -> list[CheckResult]:
    """Each job's newest run: failed is CRITICAL, partial (unreadable sources) WARNING."""
    results: list[CheckResult] = []
    for name in env.config.jobs:
        record = _newest_ended(env, name)
        if record is None:
            results.append(CheckResult("last_run", name, Level.OK, "not run yet"))
            continue
        when = _moment(record)
        at = f" at {when.isoformat(timespec='seconds')}" if when else ""
        if record.status == "failed":
            level, message = Level.CRITICAL, f"failed{at}: {record.error or 'no reason recorded'}"
        elif record.status == "partial":
            level, message = Level.WARNING, f"partial{at}: {record.error or 'sources unreadable'}"
        else:
            level, message = Level.OK, f"succeeded{at}"
        results.append(CheckResult("last_run", name, level, message, record.status))
    return results


def _backup_age(env: CheckEnvironment, name: str, job: JobSpec) -> CheckResult:
    thresholds = env.thresholds
    now = env.now.astimezone(UTC)
    success = env.runs.last(name, status="success")
    since = _moment(success) if success else None
    reference = since or _first_seen(env, name)
    if reference is None:
        return CheckResult("backup_age", name, Level.OK, "no run yet")
    hours = max(0.0, (now - reference).total_seconds() / 3600)
    value = round(hours, 2)
    what = "since the last successful run" if since else "and no successful run yet"
    warn_hours, crit_hours = (
        thresholds.backup_age_warning_hours,
        thresholds.backup_age_critical_hours,
    )
    schedule: Schedule | None = job.schedule
    missed = _missed(schedule, reference, now, env) if schedule is not None else 0
    warned = hours >= warn_hours if warn_hours is not None else missed >= 1
    critical = hours >= crit_hours if crit_hours is not None else missed >= 2
    level = Level.CRITICAL if critical else Level.WARNING if warned else Level.OK
    threshold = _threshold_text(schedule, warn_hours, crit_hours)
    message = f"{_span(hours)} {what}"
    if schedule is not None and missed:
        message += f"; {missed if missed < 10 else 'many'} scheduled run(s) missed ({schedule})"
    return CheckResult("backup_age", name, level, message, value, threshold)


def _missed(schedule: Schedule, reference: datetime, now: datetime, env: CheckEnvironment) -> int:
    """Scheduled times after ``reference`` whose grace period has passed (counted up to 3)."""
    zone = env.config.scheduler.zone()
    first = schedule.next_after(reference, zone)
    cadence = schedule.next_after(first, zone) - first
    grace = min(cadence / 12, _MAX_GRACE)
    due = schedule.times_between(reference, now - grace, zone)
    return sum(1 for _ in islice(due, 3))


def _first_seen(env: CheckEnvironment, name: str) -> datetime | None:
    """When the job first showed up: its oldest history row or its scheduler cursor."""
    oldest = env.runs.runs(name, limit=None)
    times = [moment for record in oldest[:1] if (moment := _moment(record)) is not None]
    cursor = env.runs.cursor(name)
    if cursor is not None:
        times.append(cursor.astimezone(UTC))
    return min(times) if times else None


def _newest_ended(env: CheckEnvironment, name: str) -> RunRecord | None:
    for record in reversed(env.runs.runs(name, limit=50)):
        if record.status in _ENDED:
            return record
    return None


def _moment(record: RunRecord) -> datetime | None:
    found = record.finished or record.started or record.scheduled
    if found is None:
        return None
    return (found if found.tzinfo else found.replace(tzinfo=UTC)).astimezone(UTC)


def _span(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    if hours >= 1:
        return f"{hours:.1f} h"
    return f"{hours * 60:.0f} min" if hours * 60 >= 1 else f"{hours * 3600:.0f} s"


def _threshold_text(schedule: Schedule | None, warn: float | None, crit: float | None) -> str:
    parts: list[str] = []
    if schedule is not None:
        parts.append(f"1/2 missed runs of {schedule}")
    if warn is not None or crit is not None:
        parts.append(f"{warn or '-'}h/{crit or '-'}h")
    return "; ".join(parts) if parts else "none"
