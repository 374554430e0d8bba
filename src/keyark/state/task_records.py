"""The server's API tasks in the control database, so every server sharing it answers for
any of them (see :mod:`keyark.control`).

A server that starts a task keeps it in memory (its events are streamed from there) and
writes its status here: a row per task with who started it, on which server
(``instance``), its status, last progress, result or error, and ``updated``, the last
time the running server wrote it. Another server reads the row. A server asked to cancel
a task another runs sets ``cancel_requested``; the running server looks for that each
time it writes the row. A row ``running`` whose server stopped writing it for
:data:`LOST_AFTER` is read as failed (code ``server-lost``): that server died.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from keyark.control.database import ControlDatabase, Row, Transaction
from keyark.control.dialect import time_text
from keyark.control.migrations import migrate

#: The tasks table's schema versions (append only).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS server_tasks (
            id TEXT PRIMARY KEY,
            operation TEXT NOT NULL,
            principal TEXT NOT NULL,
            role TEXT NOT NULL,
            repository TEXT,
            instance TEXT NOT NULL,
            status TEXT NOT NULL,
            created {float} NOT NULL,
            ended {float},
            progress TEXT,
            events INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            updated TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS server_tasks_created ON server_tasks (created)",
    ),
)

#: A running task whose server has not written its row for this long is read as lost.
LOST_AFTER = timedelta(seconds=60)
#: Rows kept: the oldest ended ones beyond this are deleted.
KEEP = 1000

_SAVE = (
    "INSERT INTO server_tasks (id, operation, principal, role, repository, instance, status,"
    " created, ended, progress, events, result, error, updated)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended = excluded.ended,"
    " progress = excluded.progress, events = excluded.events, result = excluded.result,"
    " error = excluded.error, updated = excluded.updated"
    " RETURNING cancel_requested"
)


@dataclass(frozen=True)
class TaskRow:
    """A task as stored: what :meth:`keyark.server.tasks.Task.to_dict` shows, plus where
    it runs."""

    id: str
    operation: str
    principal: str
    role: str
    repository: str | None
    instance: str
    status: str
    created: float
    ended: float | None = None
    progress: dict[str, Any] | None = None
    events: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class TaskRecords:
    """The tasks table of one control database."""

    def __init__(self, database: ControlDatabase) -> None:
        self.database = database

    def __repr__(self) -> str:
        return f"TaskRecords({self.database!r})"

    def _connect(self) -> AbstractContextManager[Transaction]:
        migrate(self.database, "server_tasks", MIGRATIONS)
        return self.database.transaction()

    def save(self, row: TaskRow, now: datetime | None = None) -> bool:
        """Write ``row`` (its server is alive as of ``now``); whether another server asked
        to cancel the task."""
        moment = time_text(now or datetime.now(UTC))
        with self._connect() as db:
            found = db.execute(
                _SAVE,
                (
                    row.id, row.operation, row.principal, row.role, row.repository,
                    row.instance, row.status, row.created, row.ended, _json(row.progress),
                    row.events, _json(row.result), _json(row.error), moment,
                ),
            )  # fmt: skip
        return bool(found and found[0]["cancel_requested"])

    def get(self, task_id: str, now: datetime | None = None) -> TaskRow | None:
        """Task ``task_id`` (None: no such row)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM server_tasks WHERE id = ?", (task_id,))
        return _row(rows[0], now) if rows else None

    def recent(self, limit: int = 200, now: datetime | None = None) -> list[TaskRow]:
        """The newest ``limit`` tasks, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM server_tasks ORDER BY created DESC LIMIT {int(limit)}"  # noqa: S608
            )
        return [_row(row, now) for row in reversed(rows)]

    def request_cancel(self, task_id: str) -> None:
        """Ask the server running task ``task_id`` to cancel it (it looks on its next write)."""
        with self._connect() as db:
            db.execute("UPDATE server_tasks SET cancel_requested = 1 WHERE id = ?", (task_id,))

    def forget_old(self, keep: int = KEEP) -> None:
        """Delete the oldest ended tasks beyond the newest ``keep`` rows."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT created FROM server_tasks ORDER BY created DESC LIMIT 1 OFFSET ?",
                (int(keep),),
            )
            if rows:
                db.execute(
                    "DELETE FROM server_tasks WHERE created <= ? AND status <> 'running'",
                    (rows[0]["created"],),
                )


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _loaded(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _row(row: Row, now: datetime | None) -> TaskRow:
    status, error = row["status"], _loaded(row["error"])
    updated = datetime.fromisoformat(row["updated"])
    if status == "running" and (now or datetime.now(UTC)) - updated > LOST_AFTER:
        status = "failed"
        error = {
            "code": "server-lost",
            "message": f"the server running the task ({row['instance']}) stopped answering",
            "hint": None,
        }
    return TaskRow(
        id=row["id"],
        operation=row["operation"],
        principal=row["principal"],
        role=row["role"],
        repository=row["repository"],
        instance=row["instance"],
        status=status,
        created=float(row["created"]),
        ended=None if row["ended"] is None else float(row["ended"]),
        progress=_loaded(row["progress"]),
        events=int(row["events"]),
        result=_loaded(row["result"]),
        error=error,
    )
