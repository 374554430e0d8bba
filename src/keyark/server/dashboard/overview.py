"""The overview's data: every job and task of the config with its status light, last
success, next run, duration and size trend; health checks; open alerts; key age and
rotation; expiring certificates. One monitor round (without recording alerts) and the
run history give all of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keyark import ops
from keyark.access.permissions import Permission
from keyark.daemon.planner import schedule_table

if TYPE_CHECKING:
    from keyark.access.permissions import Principal
    from keyark.daemon.planner import TaskStatus
    from keyark.server.state import ServerState

#: How many runs the size trend of a job shows.
TREND_RUNS = 20
#: The size trend's drawing box (CSS pixels; the page reserves it).
TREND_WIDTH, TREND_HEIGHT = 120, 24
#: How many of the server's newest tasks the overview lists.
RECENT_TASKS = 8
#: Alert levels that keep an alert open until a later one of the same key clears it.
OPEN_LEVELS = frozenset({"warning", "critical", "unknown"})
#: Checks the overview shows in their own sections rather than under health.
KEY_CHECKS = frozenset({"key_age"})
CERTIFICATE_CHECKS = frozenset({"certificates"})


def trend_points(values: list[float]) -> str:
    """An SVG polyline's points for ``values`` scaled into the trend box ("" for none)."""
    if not values:
        return ""
    top = max(values) or 1.0
    step = TREND_WIDTH / max(1, len(values) - 1)
    points = []
    for index, value in enumerate(values):
        x = index * step if len(values) > 1 else TREND_WIDTH / 2
        y = TREND_HEIGHT - 2 - (TREND_HEIGHT - 4) * (value / top)
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


def job_row(status: TaskStatus, state: ServerState) -> dict[str, Any]:
    """One line of the jobs table."""
    runs = state.runs.runs(status.name, limit=TREND_RUNS)
    added = [float(run.bytes_added or 0) for run in runs if run.status != "running"]
    last_success = state.runs.last(status.name, status="success")
    last = status.last
    return {
        "name": status.name,
        "kind": status.kind,
        "schedule": status.schedule or "by hand",
        "status": "never run" if last is None else last.status,
        "last_run": None if last is None else last.started or last.scheduled,
        "last_success": None if last_success is None else last_success.finished,
        "next": status.next,
        "duration": None if last is None else last.duration,
        "error": None if last is None else last.error,
        "trend": trend_points(added),
        "trend_text": ", ".join(str(int(value)) for value in added[-5:]),
        "runs": len(runs),
    }


def open_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per alert key the newest alert, when its level is still bad (newest first)."""
    newest: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        known = newest.get(alert["key"])
        if known is None or (alert["time"], alert["id"] or 0) >= (known["time"], known["id"] or 0):
            newest[alert["key"]] = alert
    still = [alert for alert in newest.values() if alert["level"] in OPEN_LEVELS]
    return sorted(still, key=lambda alert: alert["time"], reverse=True)


def recent_tasks(state: ServerState, principal: Principal) -> list[dict[str, Any]]:
    """The newest tasks of the server that ``principal`` may see, newest first."""
    tasks = state.tasks.list(principal)[-RECENT_TASKS:]
    return [
        {
            "id": task.id,
            "operation": task.operation,
            "principal": task.principal.name,
            "status": task.status,
            "created": datetime.fromtimestamp(task.created, UTC),
        }
        for task in reversed(tasks)
    ]


def overview(state: ServerState, principal: Principal) -> dict[str, Any]:
    """The overview page's data."""
    config = state.config
    directory = state.runs.directory
    names = principal.can(Permission.METADATA)  # a viewer sees verdicts, not file names
    jobs = [job_row(status, state) for status in schedule_table(config, state.runs, _now())]
    report = state.run(
        principal,
        "monitor check",
        ops.MonitorCheckOptions(
            config=config, record=False, notify=False, state_dir=directory, names=names
        ),
    ).to_dict()
    history = state.run(
        principal,
        "monitor alerts",
        ops.MonitorAlertsOptions(config=config, limit=500, state_dir=directory, names=names),
    ).to_dict()
    results: list[dict[str, Any]] = report["results"]
    return {
        "title": "Overview",
        "jobs": jobs,
        "status": report["status"],
        "health": [
            item for item in results if item["check"] not in KEY_CHECKS | CERTIFICATE_CHECKS
        ],
        "keys": [item for item in results if item["check"] in KEY_CHECKS],
        "certificates": [item for item in results if item["check"] in CERTIFICATE_CHECKS],
        "alerts": open_alerts(history["alerts"]),
        "tasks": recent_tasks(state, principal),
        "trend_width": TREND_WIDTH,
        "trend_height": TREND_HEIGHT,
    }


def _now() -> datetime:
    return datetime.now(UTC)


__all__ = ["job_row", "open_alerts", "overview", "recent_tasks", "trend_points"]
