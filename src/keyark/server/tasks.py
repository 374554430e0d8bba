"""Long operations as tasks: run in a worker thread, their typed events kept and streamed.

``TaskRegistry.start`` runs a catalogue operation for a principal in its own thread with
its own cancel token, and answers at once with the :class:`Task`. The task keeps every
event the operation emits (as JSON-ready dicts), the last progress, then the result or
the error's code, message and hint. :meth:`Task.subscribe` replays the past events and
then waits for new ones until the task ends (what the SSE route sends).

With a control database several servers share (``ops.task_records``), the registry also
writes each task's status there: when it starts, about every :data:`SYNC_INTERVAL`
seconds while it runs, and when it ends. Then any server answers ``GET`` for any task
(status, progress, result or error: a *remote* task, read from the database) and
forwards a cancel to the server running it (which looks at each write). The events
themselves stay on the server running the task: another server's event stream of it
holds only the final ``end`` message with the task's current status.
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
    from keyark.ops import TaskRecords, TaskRow

log = logging.getLogger(__name__)

#: Finished tasks kept for their status and events (the oldest are forgotten first).
KEEP_FINISHED = 200
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
#: Seconds between two writes of a running task's status to a shared database.
SYNC_INTERVAL = 1.0

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
    #: The server running it (a shared database; None: this server, no database).
    instance: str | None = None
    #: Read from the shared database: another server runs it (its events are there).
    remote: bool = False
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
        ends. Yields None when ``wait`` seconds pass without one (a keep-alive chance).
        A remote task has no events here: nothing."""
        if self.remote:
            return
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
                "instance": self.instance,
            }

    def row(self) -> TaskRow:
        """The task as the shared database stores it."""
        from keyark.ops import TaskRow

        with self._changed:
            return TaskRow(
                id=self.id,
                operation=self.operation,
                principal=self.principal.name,
                role=self.principal.role.value,
                repository=self.repository,
                instance=self.instance or "",
                status=self.status,
                created=self.created,
                ended=self.ended,
                progress=self.progress,
                events=len(self.events),
                result=self.result,
                error=self.error,
            )

    @classmethod
    def of_row(cls, row: TaskRow) -> Task:
        """A task another server runs, as the shared database has it."""
        task = cls(
            row.id,
            row.operation,
            Principal(row.principal, Role(row.role)),
            row.repository,
            status=row.status,
            created=row.created,
            ended=row.ended,
            progress=row.progress,
            result=row.result,
            error=row.error,
            instance=row.instance,
            remote=True,
        )
        task.events = [{} for _ in range(row.events)]  # counted, not held here
        return task


class TaskRegistry:
    """The server's tasks by id; each runs in its own thread."""

    def __init__(
        self, runner: Runner, *, records: TaskRecords | None = None, instance: str | None = None
    ) -> None:
        """``records``: the shared database's task table (None: tasks stay in memory);
        ``instance``: this server's name there."""
        self._runner = runner
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._records = records
        self._instance = instance
        self._syncing: threading.Thread | None = None
        self._closed = threading.Event()

    def start(
        self, principal: Principal, operation: str, options: object, repository: str | None = None
    ) -> Task:
        """Start ``operation`` for ``principal`` in a worker thread; the running task."""
        task = Task(uuid.uuid4().hex, operation, principal, repository, instance=self._instance)
        with self._lock:
            self._tasks[task.id] = task
            self._forget_old()
            self._start_sync()
        self._save(task)
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
        finally:
            self._save(task)

    def _start_sync(self) -> None:
        if self._records is None or self._syncing is not None:
            return
        self._syncing = threading.Thread(target=self._sync, name="task-sync", daemon=True)
        self._syncing.start()

    def _sync(self) -> None:
        """Write the running tasks' status every SYNC_INTERVAL; forget old rows now and then."""
        rounds = 0
        while not self._closed.wait(SYNC_INTERVAL):
            with self._lock:
                running = [task for task in self._tasks.values() if not task.done]
            for task in running:
                self._save(task)
            rounds += 1
            if self._records is not None and rounds % 600 == 0:
                try:
                    self._records.forget_old()
                except Exception as error:
                    log.warning("old tasks not forgotten in the shared database: %s", error)

    def _save(self, task: Task) -> None:
        """Write ``task`` to the shared database (never fails the task); cancel it when
        another server asked to."""
        if self._records is None:
            return
        try:
            cancel = self._records.save(task.row())
        except Exception as error:  # the database is away: the task goes on
            log.warning("task %s not written to the shared database: %s", task.id, error)
            return
        if cancel and not task.done:
            task.cancel_token.cancel()

    def close(self) -> None:
        """Stop writing to the shared database (the server is stopping)."""
        self._closed.set()

    def _forget_old(self) -> None:
        finished = [task for task in self._tasks.values() if task.done]
        for task in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._tasks[task.id]

    def get(self, task_id: str, principal: Principal | None = None) -> Task:
        """The task ``task_id``; unknown (404) when there is none or it belongs to another
        principal and ``principal`` is not an admin."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            task = self._remote(task_id)
        if task is None or not _visible(task, principal):
            raise UnknownResourceError(f"no task {task_id!r}")
        return task

    def list(self, principal: Principal | None = None) -> list[Task]:
        """The tasks ``principal`` may see (all for an admin or None), oldest first."""
        with self._lock:
            tasks = list(self._tasks.values())
        if self._records is not None:
            here = {task.id for task in tasks}
            try:
                rows = self._records.recent(KEEP_FINISHED)
            except Exception as error:  # the database is away: this server's own
                log.warning("tasks of other servers not listed: %s", error)
                rows = []
            tasks += [Task.of_row(row) for row in rows if row.id not in here]
            tasks.sort(key=lambda task: task.created)
        return [task for task in tasks if _visible(task, principal)]

    def _remote(self, task_id: str) -> Task | None:
        """Task ``task_id`` from the shared database (None: none, or no database)."""
        if self._records is None:
            return None
        row = self._records.get(task_id)
        return None if row is None else Task.of_row(row)

    def cancel(self, task_id: str, principal: Principal | None = None) -> Task:
        """Ask task ``task_id`` to stop at its next checkpoint; the task."""
        task = self.get(task_id, principal)
        if task.remote and not task.done and self._records is not None:
            self._records.request_cancel(task.id)
        elif not task.done:
            task.cancel_token.cancel()
        return task

    def cancel_all(self) -> None:
        """Cancel every running task and stop writing their status periodically (the
        server is stopping; each task's final status is still written when it ends)."""
        self._closed.set()
        with self._lock:
            tasks = list(self._tasks.values())
        for task in tasks:
            if not task.done:
                task.cancel_token.cancel()


def _visible(task: Task, principal: Principal | None) -> bool:
    return principal is None or principal.role == Role.ADMIN or task.principal == principal


__all__ = ["CANCELLED", "FAILED", "RUNNING", "SUCCEEDED", "Task", "TaskRegistry"]
