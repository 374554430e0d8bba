"""The alert history: SQLite ``alerts.db`` in the state directory (0600, directory 0700).

Three tables:

- ``alerts``: every alert raised (check transitions, job events, tests, digests).
- ``check_states``: the last level seen per check key, so a check that stays WARNING
  raises one alert, not one per interval, and a return to OK is a "resolved" alert.
- ``deliveries``: each attempt to hand an alert to a notification channel (sent,
  failed, suppressed as a repeat), read by ``daemon status`` and the metrics.

Like the run history, each call opens its own connection (WAL, busy timeout), so the
daemon's threads, a manual ``monitor check`` and the metrics exporter share the file.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from keyark.monitor.model import Alert, Level
from keyark.state.database import newest_rows, state_database, time_text

#: The file name in the state directory.
FILE_NAME = "alerts.db"

#: What became of one delivery attempt.
DELIVERY_STATUSES: tuple[str, ...] = ("pending", "sent", "failed", "suppressed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    level INTEGER NOT NULL,
    previous INTEGER,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time);
CREATE TABLE IF NOT EXISTS check_states (
    key TEXT PRIMARY KEY,
    level INTEGER NOT NULL,
    since TEXT NOT NULL,
    checked TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert INTEGER,
    key TEXT NOT NULL,
    level INTEGER NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    time TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_channel ON deliveries (channel, key, time);
CREATE TABLE IF NOT EXISTS handled_runs (
    run INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass
class Delivery:
    """One alert handed (or not) to one channel."""

    channel: str
    key: str
    level: Level
    status: str
    time: datetime
    alert: int | None = None
    attempts: int = 0
    error: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the level by name, the time as ISO 8601."""
        data = asdict(self)
        data["level"] = self.level.label
        data["time"] = self.time.isoformat()
        return data


@dataclass(frozen=True)
class CheckState:
    """The last level seen for one check key, and since when it holds."""

    key: str
    level: Level
    since: datetime
    checked: datetime
    message: str = ""


class AlertStore:
    """The alert database of one state directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return state_database(self.path, _SCHEMA)

    # ---------------------------------------------------------------- alerts
    def record(self, alert: Alert) -> Alert:
        """Store ``alert``; returns it with its ``id``."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO alerts (key, level, previous, kind, title, message, time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.key,
                    int(alert.level),
                    None if alert.previous is None else int(alert.previous),
                    alert.kind,
                    alert.title,
                    alert.message,
                    _text(alert.time),
                ),
            )
        return replace(alert, id=cursor.lastrowid)

    def alerts(
        self,
        *,
        since: datetime | None = None,
        min_level: Level | None = None,
        key: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Stored alerts, oldest first; ``limit`` keeps the newest ones.

        ``min_level`` keeps alerts at least that bad; a "resolved" alert (level OK)
        counts at the level it resolved (its ``previous``), so a warning filter still
        shows that the warning ended.
        """
        worst = "MAX(level, COALESCE(previous, 0)) >= ?"
        filters = [
            ("time >= ?", None if since is None else _text(since)),
            (worst, None if min_level is None else int(min_level)),
            ("key = ?", key),
        ]
        with self._connect() as db:
            return [_alert(row) for row in newest_rows(db, "alerts", filters, limit)]

    # ---------------------------------------------------------- check states
    def check_state(self, key: str) -> CheckState | None:
        """The last level seen for ``key`` (None: never checked)."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM check_states WHERE key = ?", (key,)).fetchone()
        return None if row is None else _state(row)

    def check_states(self) -> dict[str, CheckState]:
        """Every check key's last level."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM check_states ORDER BY key").fetchall()
        return {row["key"]: _state(row) for row in rows}

    def set_check_state(self, key: str, level: Level, when: datetime, message: str = "") -> None:
        """Remember ``level`` for ``key`` as of ``when`` (``since`` moves only on a change)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO check_states (key, level, since, checked, message)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " since = CASE WHEN check_states.level = excluded.level"
                " THEN check_states.since ELSE excluded.since END,"
                " level = excluded.level, checked = excluded.checked,"
                " message = excluded.message",
                (key, int(level), _text(when), _text(when), message),
            )

    # ------------------------------------------------------------- job runs
    def handled_runs(self, ids: list[int]) -> set[int]:
        """Which of the run-history ids ``ids`` have had their job events raised."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT run FROM handled_runs WHERE run IN ({marks})",  # noqa: S608
                ids,
            ).fetchall()
        return {int(row[0]) for row in rows}

    def mark_runs(self, ids: list[int]) -> None:
        """Remember that the job events of runs ``ids`` are raised."""
        with self._connect() as db:
            db.executemany(
                "INSERT OR IGNORE INTO handled_runs (run) VALUES (?)", [(i,) for i in ids]
            )

    def claim_run(self, run: int) -> bool:
        """Mark run ``run`` handled; False when another look had already claimed it (so two
        processes looking at once raise its events once)."""
        with self._connect() as db:
            cursor = db.execute("INSERT OR IGNORE INTO handled_runs (run) VALUES (?)", (run,))
        return cursor.rowcount == 1

    def meta(self, name: str) -> str | None:
        """A stored setting of the monitor itself (None: not set)."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        """Store a setting of the monitor itself."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # ------------------------------------------------------------ deliveries
    def add_delivery(self, delivery: Delivery) -> Delivery:
        """Store a delivery attempt (its ``id`` is set); returns it."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO deliveries (alert, key, level, channel, status, attempts, time,"
                " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _delivery_row(delivery),
            )
        delivery.id = cursor.lastrowid
        return delivery

    def update_delivery(self, delivery: Delivery) -> None:
        """Write every field of a stored delivery (status, attempts, error, time)."""
        if delivery.id is None:
            raise ValueError("the delivery was not added to this store")
        with self._connect() as db:
            db.execute(
                "UPDATE deliveries SET alert=?, key=?, level=?, channel=?, status=?,"
                " attempts=?, time=?, error=? WHERE id=?",
                (*_delivery_row(delivery), delivery.id),
            )

    def deliveries(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        key: str | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        """Delivery attempts, oldest first; ``limit`` keeps the newest ones."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("channel", channel), ("status", status), ("key", key)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("time >= ?")
            params.append(_text(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT * FROM deliveries {where} ORDER BY id DESC"  # noqa: S608
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._connect() as db:
            rows = db.execute(query, params).fetchall()
        return [_delivery(row) for row in reversed(rows)]

    def last_sent(self, channel: str, key: str, level: Level | None = None) -> Delivery | None:
        """The newest delivery of ``key`` (at ``level``, when given) ``channel`` accepted:
        what repeat suppression compares with."""
        query = "SELECT * FROM deliveries WHERE channel = ? AND key = ? AND status = 'sent'"
        params: list[Any] = [channel, key]
        if level is not None:
            query += " AND level = ?"
            params.append(int(level))
        with self._connect() as db:
            row = db.execute(query + " ORDER BY id DESC LIMIT 1", params).fetchone()
        return None if row is None else _delivery(row)

    def failure_counts(self) -> dict[str, int]:
        """Failed deliveries per channel, ever (the metrics' counter)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT channel, COUNT(*) FROM deliveries WHERE status = 'failed' GROUP BY channel"
            ).fetchall()
        return {str(row[0]): int(row[1]) for row in rows}


_text = time_text


def _alert(row: sqlite3.Row) -> Alert:
    previous = row["previous"]
    return Alert(
        key=row["key"],
        level=Level(row["level"]),
        title=row["title"],
        message=row["message"],
        time=datetime.fromisoformat(row["time"]),
        kind=row["kind"],
        previous=None if previous is None else Level(previous),
        id=row["id"],
    )


def _state(row: sqlite3.Row) -> CheckState:
    return CheckState(
        key=row["key"],
        level=Level(row["level"]),
        since=datetime.fromisoformat(row["since"]),
        checked=datetime.fromisoformat(row["checked"]),
        message=row["message"],
    )


def _delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    return (
        delivery.alert,
        delivery.key,
        int(delivery.level),
        delivery.channel,
        delivery.status,
        delivery.attempts,
        _text(delivery.time),
        delivery.error,
    )


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        channel=row["channel"],
        key=row["key"],
        level=Level(row["level"]),
        status=row["status"],
        time=datetime.fromisoformat(row["time"]),
        alert=row["alert"],
        attempts=row["attempts"],
        error=row["error"],
        id=row["id"],
    )
