"""One round of monitoring: run the checks, turn level changes and job runs into alerts.

:func:`run_checks` runs the named checks (default: all) and never raises: a check
family that fails gives one UNKNOWN result. :func:`transitions` compares each result
with the level stored for its key: a new WARNING, CRITICAL or UNKNOWN (or a change
between them) is a ``transition`` alert, a return to OK (or INFO) from one of them a
``resolved`` alert; a level that holds raises nothing, so a check that stays WARNING
alerts once. :func:`job_events` raises an alert for each run of the history that
ended since it last looked (failed, partial, recovered, catch-up).
"""

from __future__ import annotations

from datetime import datetime

from keyark.monitor.alert_store import AlertStore
from keyark.monitor.checks import CHECK_NAMES, family
from keyark.monitor.environment import CheckEnvironment, unknown
from keyark.monitor.model import Alert, CheckResult, Level
from keyark.state.runs import RunRecord, RunStore

#: Levels that need someone's attention (an alert when entered, "resolved" when left).
TROUBLE = (Level.WARNING, Level.CRITICAL, Level.UNKNOWN)
#: How many of the newest history rows a look at job events reads.
RECENT_RUNS = 200
#: The statuses a run ends with (skipped and missed times are not runs).
_ENDED = ("success", "partial", "failed")
#: Meta setting: the job-event look has started (older history raises nothing).
_STARTED = "job_events_started"


def run_checks(env: CheckEnvironment, names: list[str] | None = None) -> list[CheckResult]:
    """The results of the named checks (all when None), in the checks' order."""
    results: list[CheckResult] = []
    for name in names or list(CHECK_NAMES):
        env.ctx.cancel.check()
        try:
            results.extend(family(name)(env))
        except Exception as error:  # a broken check is UNKNOWN; the others still run
            results.append(unknown(name, "*", error))
    return results


def transitions(results: list[CheckResult], store: AlertStore, now: datetime) -> list[Alert]:
    """Alerts for the results whose level changed since the last round (stored, with ids);
    a change another server sharing the store saw first raises nothing here."""
    alerts: list[Alert] = []
    for result in results:
        # the change and its check are one step: of servers sharing the store, one raises it
        previous = store.change_check_state(result.key, result.level, now, result.message)
        alert = None if previous is None else _transition(result, previous, now)
        if alert is not None:
            alerts.append(store.record(alert))
    return alerts


def _transition(result: CheckResult, previous: Level, now: datetime) -> Alert | None:
    level = result.level
    if level == previous:
        return None
    subject = f"{result.check} {result.subject}"
    if level in TROUBLE:
        title = f"{level.label.upper()}: {subject}"
        return Alert(result.key, level, title, result.message, now, "transition", previous)
    if previous in TROUBLE:
        title = f"RESOLVED: {subject}"
        return Alert(result.key, Level.OK, title, result.message, now, "resolved", previous)
    return None


def job_events(runs: RunStore, store: AlertStore, now: datetime) -> list[Alert]:
    """Alerts for the runs that ended since the last look (stored, with ids).

    The first look only marks the history seen: old runs raise nothing.
    """
    recent = runs.runs(limit=RECENT_RUNS)
    ended = [r for r in recent if r.id is not None and r.status in _ENDED]
    ids = [record.id for record in ended if record.id is not None]
    if store.meta(_STARTED) is None:
        store.mark_runs(ids)
        store.set_meta(_STARTED, now.isoformat())
        return []
    handled = store.handled_runs(ids)
    alerts: list[Alert] = []
    for record in ended:
        if record.id is None or record.id in handled or not store.claim_run(record.id):
            continue
        alert = _job_alert(record, _previous(ended, record, runs), now)
        if alert is not None:
            alerts.append(store.record(alert))
    return alerts


def _previous(ended: list[RunRecord], record: RunRecord, runs: RunStore) -> RunRecord | None:
    """The run of the same task that ended before ``record``."""
    assert record.id is not None
    earlier = [r for r in ended if r.job == record.job and r.id is not None and r.id < record.id]
    if earlier:
        return earlier[-1]
    for found in reversed(runs.runs(record.job, limit=20)):
        if found.id is not None and found.id < record.id and found.status in _ENDED:
            return found
    return None


def _job_alert(record: RunRecord, previous: RunRecord | None, now: datetime) -> Alert | None:
    task = record.job
    what = "job" if record.kind == "backup" else "task"
    when = record.finished or now
    key = f"job:{task}"
    trigger = " (catch-up run)" if record.trigger == "catch-up" else ""
    if record.status == "failed":
        cancelled = record.error_code == "cancelled"
        level = Level.WARNING if cancelled else Level.CRITICAL
        title = f"{what} {task} {'was cancelled' if cancelled else 'failed'}{trigger}"
        message = record.error or "no reason recorded"
        return Alert(key, level, title, message, when, "job", _level(previous))
    if record.status == "partial":
        title = f"{what} {task} partly failed{trigger}"
        message = record.error or "some sources could not be read"
        return Alert(key, Level.WARNING, title, message, when, "job", _level(previous))
    if previous is not None and previous.status in ("failed", "partial"):
        title = f"{what} {task} recovered{trigger}"
        message = f"succeeded after a {previous.status} run"
        return Alert(key, Level.OK, title, message, when, "job", _level(previous))
    if record.trigger == "catch-up":
        due = record.scheduled.isoformat() if record.scheduled else "an unknown time"
        title = f"{what} {task}: catch-up run succeeded"
        message = f"caught up the run due at {due}"
        return Alert(key, Level.INFO, title, message, when, "job", None)
    return None


def _level(record: RunRecord | None) -> Level | None:
    if record is None:
        return None
    return {"failed": Level.CRITICAL, "partial": Level.WARNING}.get(record.status, Level.OK)
