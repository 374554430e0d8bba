"""A job's page (its run history as a chart of duration and bytes added, the logs of its
last runs) and running it now as a task of the server whose progress the page follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyark import ops
from keyark.access.permissions import permission_for
from keyark.errors import ForbiddenError, UnknownResourceError

if TYPE_CHECKING:
    from keyark.access.permissions import Principal
    from keyark.server.state import ServerState
    from keyark.server.tasks import Task

#: How many runs the history chart shows, and how many runs' logs the page lists.
CHART_RUNS = 100
LOG_RUNS = 10
#: The progress fields a page shows before the first progress event.
EMPTY_PROGRESS: dict[str, Any] = {
    "phase": "",
    "files_done": 0,
    "files_total": None,
    "bytes_done": 0,
    "bytes_total": None,
    "current": None,
}


def task_names(state: ServerState) -> list[str]:
    """The jobs of the config and its maintenance tasks."""
    return [*state.config.jobs, *ops.MAINTENANCE_TASKS]


def known_job(state: ServerState, name: str) -> str:
    """``name`` when the config has such a job or task; else UnknownResourceError."""
    if name not in task_names(state):
        raise UnknownResourceError(f"the config has no job or task {name!r}")
    return name


def job_detail(state: ServerState, name: str) -> dict[str, Any]:
    """The job page's data: chart series (start time, duration, bytes added) and logs."""
    known_job(state, name)
    runs = [run for run in state.runs.runs(name, limit=CHART_RUNS) if run.started is not None]
    ended = [run for run in runs if run.status != "running"]
    chart = {
        "time": [run.started.timestamp() for run in ended if run.started is not None],
        "duration": [run.duration for run in ended],
        "bytes_added": [run.bytes_added for run in ended],
    }
    return {
        "title": f"Job {name}",
        "name": name,
        "chart": chart,
        "runs": [run.to_dict() for run in reversed(runs[-LOG_RUNS:])],
        "total_runs": len(runs),
    }


def start_run(state: ServerState, principal: Principal, name: str) -> str:
    """Start ``name`` as a task of the server (trigger ``api``); its task id."""
    options = ops.RunOptions(
        config=state.config,
        task=known_job(state, name),
        trigger="api",
        state_dir=state.runs.directory,
    )
    task: Task = state.start(principal, "run", options)
    return task.id


def task_view(state: ServerState, principal: Principal, task_id: str) -> dict[str, Any]:
    """A task's status, progress (with its fraction) and last events, for its principal's
    role (the permission of the task's operation)."""
    task = state.tasks.get(task_id, principal)
    if not principal.can(permission_for(task.operation)):
        raise ForbiddenError(f"this task needs the {permission_for(task.operation)} permission")
    progress = {**EMPTY_PROGRESS, **(task.progress or {})}
    return {
        "title": f"Task {task.id}",
        "task": {
            "id": task.id,
            "operation": task.operation,
            "status": task.status,
            "running": task.status == "running",
            "result": task.result,
            "error": task.error,
        },
        "progress": progress,
        "percent": _percent(progress),
        "events": [_event_line(event) for event in list(task.events)[-8:]],
    }


def _percent(progress: dict[str, Any]) -> int | None:
    """Done / total in percent (bytes when known, else files); None without a total."""
    for done, total in (("bytes_done", "bytes_total"), ("files_done", "files_total")):
        if progress.get(total):
            return min(100, int(100 * (progress.get(done) or 0) / progress[total]))
    return None


def _event_line(event: dict[str, Any]) -> str:
    """One event as a short line: its kind, operation and phase or message."""
    kind = str(event.get("event") or event.get("kind") or "event")
    words = [kind, str(event.get("operation") or "")]
    for name in ("phase", "message", "code"):
        if event.get(name):
            words.append(str(event[name]))
            break
    return " ".join(word for word in words if word)


__all__ = ["job_detail", "known_job", "start_run", "task_names", "task_view"]
