"""``integrity``: age and result of the last scheduled repository check.

The run history's newest ``maintenance.check`` run: failed (it found errors, or could
not run) is CRITICAL, partial a WARNING, a last success older than
``integrity_warning_days`` a WARNING. Without a configured check task and no check in
the history the result is INFO (nothing checks the repositories' integrity).
"""

from __future__ import annotations

from datetime import UTC

from keyark.monitor.environment import CheckEnvironment
from keyark.monitor.model import CheckResult, Level

#: The history's name of the scheduled check task.
TASK = "maintenance.check"


def integrity(env: CheckEnvironment) -> list[CheckResult]:
    """The last scheduled check's result and age."""
    limit = env.thresholds.integrity_warning_days
    threshold = f"{limit} days"
    ended = [
        record
        for record in env.runs.runs(TASK, limit=50)
        if record.status in ("success", "partial", "failed")
    ]
    if not ended:
        if env.config.maintenance.check is None:
            message = "no scheduled check is configured (maintenance.check)"
            return [CheckResult("integrity", TASK, Level.INFO, message, None, threshold)]
        return [CheckResult("integrity", TASK, Level.OK, "not run yet", None, threshold)]
    newest = ended[-1]
    if newest.status == "failed":
        message = f"the last check failed: {newest.error or 'no reason recorded'}"
        return [CheckResult("integrity", TASK, Level.CRITICAL, message, None, threshold)]
    successes = [record for record in ended if record.status == "success"]
    last = successes[-1] if successes else newest
    when = last.finished or last.started or last.scheduled
    if when is None:
        return [CheckResult("integrity", TASK, Level.OK, "checked (time unknown)")]
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    days = (env.now - when).total_seconds() / 86400
    level = Level.WARNING if days >= limit else Level.OK
    message = f"last checked {days:.1f} days ago ({last.status})"
    if newest.status == "partial":
        level = max(level, Level.WARNING)
        message += f"; the last check was partial: {newest.error or ''}".rstrip(": ")
    return [CheckResult("integrity", TASK, level, message, round(days, 2), threshold)]
