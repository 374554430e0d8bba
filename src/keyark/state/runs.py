"""The run history and scheduler cursors: in the control database (SQLite under the state
directory by default, or PostgreSQL shared by several servers; see :mod:`keyark.control`).

Every run of a job or maintenance task is one row (:class:`RunRecord`): which task,
what kind, what triggered it, when it was due, when it started and ended, how it
ended, the snapshot it made and what it added, and the error. The scheduler also
keeps one cursor per task (the newest scheduled time it has handled), so on start it
knows which runs it missed. Deleting the state loses this history, never a backup.

Several processes (the daemon's workers, a manual ``run``, the HTTP server) share the
database: each call opens its own transaction and connection, so no connection crosses
threads. SQLite: directory 0700, file 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from keyark.control.database import ControlDatabase, Row, SqliteDatabase, Transaction
from keyark.control.dialect import time_text
from keyark.control.migrations import migrate
from keyark.control.rows import newest_rows
from keyark.process import pid_running

#: How a run ended (``running`` until it does).
RunStatus = Literal["running", "success", "partial", "failed", "skipped", "missed"]
STATUSES: tuple[str, ...] = ("running", "success", "partial", "failed", "skipped", "missed")
#: What started a run.
#: (``takeover``: another instance's claim of a scheduled run expired, see keyark.control.claims.)
Trigger = Literal["schedule", "catch-up", "manual", "api", "takeover"]
TRIGGERS: tuple[str, ...] = ("schedule", "catch-up", "manual", "api", "takeover")

#: The run history's schema versions (:mod:`keyark.control.migrations`; append only).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS runs (
            id {serial},
            job TEXT NOT NULL,
            kind TEXT NOT NULL,
            trigger TEXT NOT NULL,
            scheduled TEXT,
            started TEXT,
            finished TEXT,
            status TEXT NOT NULL,
            snapshot_id TEXT,
            files_new {bigint},
            bytes_added {bigint},
            duration {float},
            error TEXT,
            error_code TEXT,
            pid INTEGER,
            steps TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE INDEX IF NOT EXISTS runs_job ON runs (job, started)",
        "CREATE TABLE IF NOT EXISTS processes (run {bigint} PRIMARY KEY, identity TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS cursors (task TEXT PRIMARY KEY, handled TEXT NOT NULL)",
    ),
)

_INSERT = (
    "INSERT INTO runs (job, kind, trigger, scheduled, started, finished, status,"
    " snapshot_id, files_new, bytes_added, duration, error, error_code, pid, steps)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_CURSOR = (
    "INSERT INTO cursors (task, handled) VALUES (?, ?)"
    " ON CONFLICT (task) DO UPDATE SET handled = excluded.handled"
)
_SET_IDENTITY = (
    "INSERT INTO processes (run, identity) VALUES (?, ?)"
    " ON CONFLICT (run) DO UPDATE SET identity = excluded.identity"
)

#: Makes the open transaction refuse writes, per dialect (:meth:`RunStore.reading`).
_READ_ONLY = {"sqlite": "PRAGMA query_only = ON", "postgresql": "SET TRANSACTION READ ONLY"}


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

    def __init__(
        self, directory: Path | None = None, *, database: ControlDatabase | None = None
    ) -> None:
        """``database``: the control database (default: SQLite ``state.db`` in ``directory``)."""
        self.directory = directory or default_state_dir()
        self.path = self.directory / "state.db"
        self.database: ControlDatabase = database or SqliteDatabase(self.path)

    def _connect(self) -> AbstractContextManager[Transaction]:
        migrate(self.database, "runs", MIGRATIONS)
        return self.database.transaction()

    @contextmanager
    def reading(self) -> Iterator[Transaction | None]:
        """A read-only transaction on the history, for readers that aggregate it in SQL
        (the metrics); None while a SQLite history does not exist yet (reading never
        creates it)."""
        if isinstance(self.database, SqliteDatabase) and not self.database.path.exists():
            yield None
            return
        with self._connect() as db:
            db.execute(_READ_ONLY[db.dialect.name])
            yield db

    # ------------------------------------------------------------------ runs
    def start(self, record: RunRecord) -> RunRecord:
        """Store a new run (``record.id`` is set); returns the record."""
        with self._connect() as db:
            record.id = db.insert(_INSERT, _row(record))
            identity = process_identity(record.pid) if record.status == "running" else None
            if identity is not None:
                db.execute(_SET_IDENTITY, (record.id, identity))
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
                record.id = db.insert(_INSERT, _row(record))
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
        In a database several machines share, rows of another boot id are left to the
        claims' leases (:mod:`keyark.control.claims`).
        """
        stale: list[RunRecord] = []
        shared = self.database.dialect.name != "sqlite"
        here = process_identity(os.getpid()) if shared else None
        for record in self.runs(status="running"):
            identity = self._identity(record)
            if here and identity and identity.split(":")[0] != here.split(":")[0]:
                continue  # a shared database: another machine's run; its claim's lease decides
            if record.pid is None or not process_alive(record.pid, identity):
                record.status = "failed"
                record.error_code = "interrupted"
                record.error = f"the process running it (pid {record.pid}) ended before the run did"
                self.update(record)
                stale.append(record)
        return stale

    def mark_taken_over(self, job: str, scheduled: datetime, instance: str) -> list[RunRecord]:
        """Mark ``failed`` (error code ``taken-over``) the ``running`` rows of ``job`` due at
        ``scheduled``: ``instance`` stopped renewing its claim and another instance runs it."""
        moment = _text(scheduled)
        taken = [r for r in self.runs(job, status="running") if _text(r.scheduled) == moment]
        for record in taken:
            record.status = "failed"
            record.error_code = "taken-over"
            record.error = f"instance {instance} stopped renewing its claim; another took over"
            self.update(record)
        return taken

    def _identity(self, record: RunRecord) -> str | None:
        with self._connect() as db:
            rows = db.execute("SELECT identity FROM processes WHERE run = ?", (record.id,))
        return str(rows[0]["identity"]) if rows else None

    # --------------------------------------------------------------- cursors
    def cursor(self, task: str) -> datetime | None:
        """The newest scheduled time of ``task`` the scheduler has handled."""
        with self._connect() as db:
            rows = db.execute("SELECT handled FROM cursors WHERE task = ?", (task,))
        return datetime.fromisoformat(rows[0]["handled"]) if rows else None

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


def _record(row: Row) -> RunRecord:
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
