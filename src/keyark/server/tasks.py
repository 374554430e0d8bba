"""Long operations as tasks: run in a worker thread, their typed events kept and streamed.

``TaskRegistry.start`` runs a catalogue operation for a principal in its own thread with
its own cancel token, and answers at once with the :class:`Task`. The task keeps every
event the operation emits (as JSON-ready dicts), the last progress, then the result or
the error's code, message and hint. :meth:`Task.subscribe` replays the past events and
then waits for new ones until the task ends (what the SSE route sends).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyark.access.permissions import Principal, Role
from keyark.cancel import CancelToken
from keyark.errors import CancelledError, KeyarkError, UnknownResourceError

if TYPE_CHECKING:
    from keyark.events import Event

log = logging.getLogger(__name__)

#: Finished tasks kept for their status and events (the oldest are forgotten first).
KEEP_FINISHED = 200
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"

#: Runs an operation: (principal, operation, options, repository, event sink, cancel token).
Runner = Callable[
    [Principal, str, object, "str | None", Callable[["Event"], None], CancelToken], Any
]


@dataclass
class Task:
    """One operation started through the API: what, whose, how far, how it ended."""

    id: str
    operation: str
    principal: Principal
    repository: str | None
    status: str = RUNNING
    created: float = field(default_factory=time.time)
    ended: float | None = None
    #: The last ``progress`` event, as a dict (None before the first one).
    progress: dict[str, Any] | None = None
    #: Every event so far, as dicts (``{"event": kind, ...}``).
    events: list[dict[str, Any]] = field(default_factory=list)
    #: The result's ``to_dict()`` once succeeded (empty for secret results).
    result: dict[str, Any] | None = None
    #: ``{"code", "message", "hint"}`` once failed or cancelled.
    error: dict[str, Any] | None = None
    cancel_token: CancelToken = field(default_factory=CancelToken, repr=False)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def done(self) -> bool:
        """Whether the task has ended (succeeded, failed or cancelled)."""
        return self.status != RUNNING

    def record(self, event: Event) -> None:
        """Keep ``event`` (the operation's event sink) and wake the subscribers."""
        data = event.to_dict()
        with self._changed:
            self.events.append(data)
            if data.get("event") == "progress":
                self.progress = data
            self._changed.notify_all()

    def end(self, status: str, *, result: dict[str, Any] | None = None, error: Any = None) -> None:
        """Mark the task ended and wake the subscribers."""
        with self._changed:
            self.status = status
            self.result = result
            self.error = error
            self.ended = time.time()
            self._changed.notify_all()

    def subscribe(self, *, wait: float = 1.0) -> Iterator[dict[str, Any] | None]:
        """Every event from the first one on, then new ones as they come, until the task
        ends. Yields None when ``wait`` seconds pass without one (a keep-alive chance)."""
        sent = 0
        while True:
            with self._changed:
                if sent >= len(self.events) and not self.done:
                    self._changed.wait(wait)
                fresh = self.events[sent:]
                finished = self.done
            sent += len(fresh)
            yield from fresh
            if finished and sent >= len(self.events):
                return
            if not fresh:
                yield None

    def to_dict(self) -> dict[str, Any]:
        """The task's status as JSON-ready data (its events are not included)."""
        with self._changed:
            return {
                "id": self.id,
                "operation": self.operation,
                "principal": self.principal.name,
                "repository": self.repository,
                "status": self.status,
                "created": self.created,
                "ended": self.ended,
                "progress": self.progress,
                "events": len(self.events),
                "result": self.result,
                "error": self.error,
            }


class TaskRegistry:
    """The server's tasks by id; each runs in its own thread."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def start(
        self, principal: Principal, operation: str, options: object, repository: str | None = None
    ) -> Task:
        """Start ``operation`` for ``principal`` in a worker thread; the running task."""
        task = Task(uuid.uuid4().hex, operation, principal, repository)
        with self._lock:
            self._tasks[task.id] = task
            self._forget_old()
        worker = threading.Thread(
            target=self._work, args=(task, options), name=f"task-{task.id[:8]}", daemon=True
        )
        worker.start()
        return task

    def _work(self, task: Task, options: object) -> None:
        try:
            result = self._runner(
                task.principal,
                task.operation,
                options,
                task.repository,
                task.record,
                task.cancel_token,
            )
        except CancelledError as error:
            task.end(CANCELLED, error={"code": error.code, "message": str(error), "hint": None})
        except KeyarkError as error:
            hint = None if error.hint is None else str(error.hint)
            task.end(FAILED, error={"code": error.code, "message": str(error), "hint": hint})
        except Exception as error:  # logged; the task says only that it failed
            log.exception("task %s (%s) failed", task.id, task.operation)
            task.end(
                FAILED, error={"code": "internal", "message": type(error).__name__, "hint": None}
            )
        else:
            if task.cancel_token.cancelled:  # the operation stopped early and said so itself
                stopped = {"code": CancelledError.code, "message": "cancelled", "hint": None}
                task.end(CANCELLED, result=result, error=stopped)
            else:
                task.end(SUCCEEDED, result=result)

    def _forget_old(self) -> None:
        finished = [task for task in self._tasks.values() if task.done]
        for task in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._tasks[task.id]

    def get(self, task_id: str, principal: Principal | None = None) -> Task:
        """The task ``task_id``; unknown (404) when there is none or it belongs to another
        principal and ``principal`` is not an admin."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None or not _visible(task, principal):
            raise UnknownResourceError(f"no task {task_id!r}")
        return task

    def list(self, principal: Principal | None = None) -> list[Task]:
        """The tasks ``principal`` may see (all for an admin or None), oldest first."""
        with self._lock:
            tasks = list(self._tasks.values())
        return [task for task in tasks if _visible(task, principal)]

    def cancel(self, task_id: str, principal: Principal | None = None) -> Task:
        """Ask task ``task_id`` to stop at its next checkpoint; the task."""
        task = self.get(task_id, principal)
        if not task.done:
            task.cancel_token.cancel()
        return task

    def cancel_all(self) -> None:
        """Cancel every running task (the server is stopping)."""
        for task in self.list():
            if not task.done:
                task.cancel_token.cancel()


def _visible(task: Task, principal: Principal | None) -> bool:
    return principal is None or principal.role == Role.ADMIN or task.principal == principal


__all__ = ["CANCELLED", "FAILED", "RUNNING", "SUCCEEDED", "Task", "TaskRegistry"]
