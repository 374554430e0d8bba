"""Server-sent events (``text/event-stream``) of a task's typed events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from keyark.server.tasks import Task


def frame(kind: str, data: dict[str, Any], ident: int | None = None) -> str:
    """One SSE message: ``id``, ``event`` and one ``data`` line of JSON."""
    head = "" if ident is None else f"id: {ident}\n"
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def event_stream(task: Task, *, after: int | None = None, keepalive: float = 5.0) -> Iterator[str]:
    """The task's events from the first one (or the one after id ``after``: a client's
    ``Last-Event-ID`` when it reconnects), live ones as they come, then ``end`` with the
    task's status; a comment line when nothing happened for ``keepalive`` seconds."""
    count = 0
    for event in task.subscribe(wait=keepalive):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        if after is None or count > after:
            yield frame(str(event.get("event", "event")), event, count)
        count += 1
    yield frame("end", task.to_dict(), count)


__all__ = ["event_stream", "frame"]
