"""The API routes that are not one catalogue operation: the config's repositories and
jobs, the run history, and tasks (status, server-sent events, cancel).

Each view takes the request's ``principal`` (the route table's permission is checked
before the view runs, see :mod:`keyark.server.router`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Header, Query
from starlette.requests import Request
from starlette.responses import StreamingResponse

from keyark.access.permissions import Principal
from keyark.redaction import redact
from keyark.server.dependencies import state_of
from keyark.server.sse import event_stream

RunStatus = Literal["running", "success", "partial", "failed", "skipped", "missed"]


def repositories(request: Request, principal: Principal) -> list[dict[str, Any]]:
    """The config's repositories: name and location (a password in a URL masked)."""
    config = state_of(request).config
    return [{"name": name, "url": redact(entry.url)} for name, entry in config.repositories.items()]


def jobs(request: Request, principal: Principal) -> list[dict[str, Any]]:
    """The config's jobs: repository, schedule and the last run (None before the first)."""
    state = state_of(request)
    listed = []
    for name, job in state.config.jobs.items():
        last = state.runs.last(name)
        listed.append(
            {
                "name": name,
                "repository": job.repository,
                "schedule": None if job.schedule is None else str(job.schedule),
                "last_run": None if last is None else last.to_dict(),
            }
        )
    return listed


def history(
    request: Request,
    principal: Principal,
    job: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    status: Annotated[RunStatus | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[dict[str, Any]]:
    """Runs of jobs and maintenance tasks (all, or ``job``'s), oldest first."""
    runs = state_of(request).runs.runs(job, since=since, status=status, limit=limit)
    return [record.to_dict() for record in runs]


def tasks(request: Request, principal: Principal) -> list[dict[str, Any]]:
    """The caller's tasks (every task for an admin), oldest first."""
    return [task.to_dict() for task in state_of(request).tasks.list(principal)]


def task(request: Request, principal: Principal, task_id: str) -> dict[str, Any]:
    """One task: status, last progress, result or error."""
    return state_of(request).tasks.get(task_id, principal).to_dict()


def task_events(
    request: Request,
    principal: Principal,
    task_id: str,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**31)] = None,
) -> StreamingResponse:
    """The task's events as ``text/event-stream``: every past event (after
    ``Last-Event-ID`` when a client reconnects), then new ones, until the task ends (the
    last event is ``end`` with the task's status)."""
    found = state_of(request).tasks.get(task_id, principal)
    return StreamingResponse(
        event_stream(found, after=last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def cancel_task(request: Request, principal: Principal, task_id: str) -> dict[str, Any]:
    """Ask a running task to stop at its next checkpoint; its status."""
    return state_of(request).tasks.cancel(task_id, principal).to_dict()


__all__ = ["cancel_task", "history", "jobs", "repositories", "task", "task_events", "tasks"]
