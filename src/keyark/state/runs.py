"""The run history and scheduler cursors: SQLite under the state directory.

Every run of a job or maintenance task is one row (:class:`RunRecord`): which task,
what kind, what triggered it, when it was due, when it started and ended, how it
ended, the snapshot it made and what it added, and the error. The scheduler also
keeps one cursor per task (the newest scheduled time it has handled), so on start it
knows which runs it missed. Deleting the state loses this history, never a backup.

Several processes (the daemon's workers, a manual ``run``, the HTTP server) share the
file: each call opens its own connection (WAL journal, a busy timeout), so no
connection crosses threads. Directory 0700, file 0600.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from keyark.process import pid_running
from keyark.state.database import newest_rows, state_database, time_text

#: How a run ended (``running`` until it does).
RunStatus = Literal["running", "success", "partial", "failed", "skipped", "missed"]
STATUSES: tuple[str, ...] = ("running", "success", "partial", "failed", "skipped", "missed")
#: What started a run.
Trigger = Literal["schedule", "catch-up", "manual", "api"]
TRIGGERS: tuple[str, ...] = ("schedule", "catch-up", "manual", "api")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL,
    scheduled TEXT,
    started TEXT,
    finished TEXT,
    status TEXT NOT NULL,
    snapshot_id TEXT,
    files_new INTEGER,
    bytes_added INTEGER,
    duration REAL,
    error TEXT,
    error_code TEXT,
    pid INTEGER,
    steps TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job, started);
CREATE TABLE IF NOT EXISTS processes (
    run INTEGER PRIMARY KEY,
    identity TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    task TEXT PRIMARY KEY,
    handled TEXT NOT NULL
);
"""

_INSERT = (
    "INSERT INTO runs (job, kind, trigger, scheduled, started, finished, status,"
    " snapshot_id, files_new, bytes_added, duration, error, error_code, pid, steps)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_CURSOR = (
    "INSERT INTO cursors (task, handled) VALUES (?, ?)"
    " ON CONFLICT(task) DO UPDATE SET handled = excluded.handled"
)


def default_state_dir() -> Path:
    """``$KEYARK_STATE_DIR``, else ``/var/lib/keyark`` for root, else
    ``$XDG_STATE_HOME/keyark`` (``~/.local/state/keyark``)."""
    explicit = os.environ.get("KEYARK_STATE_DIR")
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/var/lib/keyark")
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "keyark"


@dataclass
class StepRecord:
    """One step of a run (``before-hooks``, ``backup``, ``verify``, ``forget``, ...)."""

    name: str
    status: str
    seconds: float = 0.0
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRecord:
    """One run of a job or task, as stored."""

    job: str
    #: ``backup`` (a job), ``check``, ``prune``, ``rotate`` or ``drill`` (a restore drill).
    kind: str
    trigger: str
    status: str = "running"
    scheduled: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    snapshot_id: str | None = None
    files_new: int | None = None
    bytes_added: int | None = None
    duration: float | None = None
    error: str | None = None
    error_code: str | None = None
    #: The process running it (so a later start can tell a crashed run from a live one).
    pid: int | None = None
    steps: list[StepRecord] = field(default_factory=list)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 text."""
        data = asdict(self)
        for name in ("scheduled", "started", "finished"):
            value = getattr(self, name)
            data[name] = None if value is None else value.isoformat()
        data["steps"] = [step.to_dict() for step in self.steps]
        return data


class RunStore:
    """The history database of one state directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_state_dir()
        self.path = self.directory / "state.db"

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return state_database(self.path, _SCHEMA)

    # ------------------------------------------------------------------ runs
    def start(self, record: RunRecord) -> RunRecord:
        """Store a new run (``record.id`` is set); returns the record."""
        with self._connect() as db:
            cursor = db.execute(_INSERT, _row(record))
            record.id = cursor.lastrowid
            identity = process_identity(record.pid) if record.status == "running" else None
            if identity is not None:
                db.execute(
                    "INSERT OR REPLACE INTO processes (run, identity) VALUES (?, ?)",
                    (record.id, identity),
                )
        return record

    def update(self, record: RunRecord) -> None:
        """Write every field of a stored run (steps, status, end)."""
        if record.id is None:
            raise ValueError("the run was not started in this store")
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET job=?, kind=?, trigger=?, scheduled=?, started=?, finished=?,"
                " status=?, snapshot_id=?, files_new=?, bytes_added=?, duration=?, error=?,"
                " error_code=?, pid=?, steps=? WHERE id=?",
                (*_row(record), record.id),
            )

    def record(self, record: RunRecord) -> RunRecord:
        """Store a run that is already over (``skipped``, ``missed``)."""
        return self.start(record)

    def record_all(
        self, records: list[RunRecord], *, cursor: tuple[str, datetime] | None = None
    ) -> None:
        """Store runs that are already over, and move a task's cursor, in one transaction
        (a catch-up after a long sleep writes its rows at once)."""
        with self._connect() as db:
            for record in records:
                record.id = db.execute(_INSERT, _row(record)).lastrowid
            if cursor is not None:
                db.execute(_SET_CURSOR, (cursor[0], _text(cursor[1])))

    def runs(
        self,
        job: str | None = None,
        *,
        since: datetime | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs, oldest first; filtered by task name, start (or due) time and status.

        ``limit`` keeps the newest ``limit`` of them.
        """
        filters = [
            ("job = ?", job),
            ("COALESCE(started, scheduled) >= ?", None if since is None else _text(since)),
            ("status = ?", status),
        ]
        with self._connect() as db:
            return [_record(row) for row in newest_rows(db, "runs", filters, limit)]

    def last(self, job: str, *, status: str | None = None) -> RunRecord | None:
        """The newest run of ``job`` (with ``status``, when given)."""
        found = self.runs(job, status=status, limit=1)
        return found[0] if found else None

    def mark_interrupted(self) -> list[RunRecord]:
        """Mark ``failed`` (error code ``interrupted``) every ``running`` row whose process
        is gone, and return them.

        A row's process is gone when its pid is not alive, or when a process with that
        pid is alive but started at another time (the pid was reused): :meth:`start`
        records each run's process identity (boot and process start time, on Linux).
        """
        stale: list[RunRecord] = []
        for record in self.runs(status="running"):
            if record.pid is None or not process_alive(record.pid, self._identity(record)):
                record.status = "failed"
                record.error_code = "interrupted"
                record.error = f"the process running it (pid {record.pid}) ended before the run did"
                self.update(record)
                stale.append(record)
        return stale

    def _identity(self, record: RunRecord) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT identity FROM processes WHERE run = ?", (record.id,)
            ).fetchone()
        return None if row is None else str(row[0])

    # --------------------------------------------------------------- cursors
    def cursor(self, task: str) -> datetime | None:
        """The newest scheduled time of ``task`` the scheduler has handled."""
        with self._connect() as db:
            row = db.execute("SELECT handled FROM cursors WHERE task = ?", (task,)).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def set_cursor(self, task: str, handled: datetime) -> None:
        """Remember that every scheduled time of ``task`` up to ``handled`` is handled."""
        with self._connect() as db:
            db.execute(_SET_CURSOR, (task, _text(handled)))


def process_identity(pid: int | None) -> str | None:
    """What tells process ``pid`` from a later one reusing its pid: the boot id and the
    process's start time (Linux ``/proc``); None where that cannot be read."""
    if pid is None:
        return None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    fields = stat[stat.rindex(")") + 2 :].split()
    return f"{boot}:{fields[19]}"  # field 22: start time in clock ticks since boot


def process_alive(pid: int, identity: str | None = None) -> bool:
    """Whether process ``pid`` runs, and is the one ``identity`` names (when given)."""
    if not pid_running(pid):
        return False
    if identity is None:
        return True
    current = process_identity(pid)
    return current is None or current == identity


def _text(moment: datetime | None) -> str | None:
    """ISO 8601 text; aware times in UTC, so text order is time order (``since``)."""
    if moment is None or moment.tzinfo is None:
        return None if moment is None else moment.isoformat()
    return time_text(moment)


def _row(record: RunRecord) -> tuple[Any, ...]:
    return (
        record.job,
        record.kind,
        record.trigger,
        _text(record.scheduled),
        _text(record.started),
        _text(record.finished),
        record.status,
        record.snapshot_id,
        record.files_new,
        record.bytes_added,
        record.duration,
        record.error,
        record.error_code,
        record.pid,
        json.dumps([step.to_dict() for step in record.steps]),
    )


def _record(row: sqlite3.Row) -> RunRecord:
    def moment(name: str) -> datetime | None:
        value = row[name]
        return None if value is None else datetime.fromisoformat(value)

    steps = [StepRecord(**step) for step in json.loads(row["steps"] or "[]")]
    return RunRecord(
        job=row["job"],
        kind=row["kind"],
        trigger=row["trigger"],
        status=row["status"],
        scheduled=moment("scheduled"),
        started=moment("started"),
        finished=moment("finished"),
        snapshot_id=row["snapshot_id"],
        files_new=row["files_new"],
        bytes_added=row["bytes_added"],
        duration=row["duration"],
        error=row["error"],
        error_code=row["error_code"],
        pid=row["pid"],
        steps=steps,
        id=row["id"],
    )
