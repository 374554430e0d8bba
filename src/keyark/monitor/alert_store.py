"""The alert history: in the control database (see :mod:`keyark.control`).

One server keeps it in SQLite ``alerts.db`` in the state directory (0600, directory
0700); several servers share it on the PostgreSQL database of ``server.database``
(:meth:`AlertStore.of`), so they show one alert history and raise each alert once.

Tables (:data:`MIGRATIONS`, applied once per database):

- ``alerts``: every alert raised (check transitions, job events, tests, digests).
- ``check_states``: the last level seen per check key, so a check that stays WARNING
  raises one alert, not one per interval, and a return to OK is a "resolved" alert.
  :meth:`AlertStore.change_check_state` changes a level and says whether it changed in
  one transaction under a lock named after the key: of several servers seeing the same
  change, one raises its alert.
- ``deliveries``: each attempt to hand an alert to a notification channel (sent,
  failed, suppressed as a repeat), read by ``daemon status`` and the metrics.
  :meth:`AlertStore.queue_delivery` looks for a recent delivery of the same key and
  level and records the new one in one locked transaction: of several servers queueing
  the same alert for a channel, one sends it; the others record it ``suppressed``.
- ``handled_runs``: the run-history ids whose job events were raised
  (:meth:`AlertStore.claim_run` is an insert on the primary key: one server raises them).
- ``alert_meta``: the monitor's own settings.

Each call opens its own transaction and connection, so the daemon's threads, a manual
``monitor check``, the metrics exporter and other servers share the database.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyark.control.database import (
    ControlDatabase,
    PostgresDatabase,
    Row,
    SqliteDatabase,
    Transaction,
)
from keyark.control.dialect import time_text
from keyark.control.migrations import migrate
from keyark.control.rows import newest_rows
from keyark.monitor.model import Alert, Level

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig

#: The SQLite file in the state directory (one server).
FILE_NAME = "alerts.db"

#: What became of one delivery attempt.
DELIVERY_STATUSES: tuple[str, ...] = ("pending", "sent", "failed", "suppressed")

#: The alert tables' schema versions (append only). Version 1 is the schema the SQLite
#: ``alerts.db`` had before versions were recorded (so an existing file migrates as is).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS alerts (
            id {serial},
            key TEXT NOT NULL,
            level INTEGER NOT NULL,
            previous INTEGER,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            message TEXT NOT NULL,
            time TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time)",
        """CREATE TABLE IF NOT EXISTS check_states (
            key TEXT PRIMARY KEY,
            level INTEGER NOT NULL,
            since TEXT NOT NULL,
            checked TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE IF NOT EXISTS deliveries (
            id {serial},
            alert {bigint},
            key TEXT NOT NULL,
            level INTEGER NOT NULL,
            channel TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            time TEXT NOT NULL,
            error TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS deliveries_channel ON deliveries (channel, key, time)",
        "CREATE TABLE IF NOT EXISTS handled_runs (run {bigint} PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # a shared database holds other stores' tables too: a name that says whose
    ("ALTER TABLE meta RENAME TO alert_meta",),
)

_INSERT_ALERT = (
    "INSERT INTO alerts (key, level, previous, kind, title, message, time)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (alert, key, level, channel, status, attempts, time, error)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_CHECK_STATE = (
    "INSERT INTO check_states (key, level, since, checked, message)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
    " since = CASE WHEN check_states.level = excluded.level"
    " THEN check_states.since ELSE excluded.since END,"
    " level = excluded.level, checked = excluded.checked,"
    " message = excluded.message"
)
_CLAIM_RUN = "INSERT INTO handled_runs (run) VALUES (?) ON CONFLICT DO NOTHING RETURNING run"


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
    """The alert history of one state directory, or of the servers sharing a database."""

    def __init__(self, directory: Path, *, database: ControlDatabase | None = None) -> None:
        """``database``: the control database (default: SQLite ``alerts.db`` in
        ``directory``)."""
        self.directory = directory
        self.path = directory / FILE_NAME
        self.database: ControlDatabase = database or SqliteDatabase(self.path)

    @classmethod
    def of(cls, config: KeyarkConfig, directory: Path) -> AlertStore:
        """The store of ``config``: on its shared control database (``server.database``),
        else in ``directory``."""
        url = config.server.database
        return cls(directory, database=PostgresDatabase(url) if url else None)

    def exists(self) -> bool:
        """False while a SQLite alert history has not been made (nothing was checked or
        delivered yet); a shared database always exists. Reading this never creates it."""
        return not isinstance(self.database, SqliteDatabase) or self.database.path.exists()

    def __repr__(self) -> str:
        return f"AlertStore({self.database!r})"

    def _connect(self) -> AbstractContextManager[Transaction]:
        migrate(self.database, "alerts", MIGRATIONS)
        return self.database.transaction()

    # ---------------------------------------------------------------- alerts
    def record(self, alert: Alert) -> Alert:
        """Store ``alert``; returns it with its ``id``."""
        with self._connect() as db:
            new_id = db.insert(_INSERT_ALERT, _alert_row(alert))
        return replace(alert, id=new_id)

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
        worst = "CASE WHEN COALESCE(previous, 0) > level THEN previous ELSE level END >= ?"
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
            rows = db.execute("SELECT * FROM check_states WHERE key = ?", (key,))
        return _state(rows[0]) if rows else None

    def check_states(self) -> dict[str, CheckState]:
        """Every check key's last level."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM check_states ORDER BY key")
        return {row["key"]: _state(row) for row in rows}

    def set_check_state(self, key: str, level: Level, when: datetime, message: str = "") -> None:
        """Remember ``level`` for ``key`` as of ``when`` (``since`` moves only on a change)."""
        with self._connect() as db:
            db.execute(_SET_CHECK_STATE, (key, int(level), _text(when), _text(when), message))

    def change_check_state(
        self, key: str, level: Level, when: datetime, message: str = ""
    ) -> Level | None:
        """Set ``key``'s level (as :meth:`set_check_state`) and return the level it had
        (OK when never checked) if this call changed it; None when it already was
        ``level``. One transaction under a lock named after the key: when several
        servers see the same change at once, one of them gets the previous level."""
        with self._connect() as db:
            db.lock(f"keyark-alerts:check:{key}")
            rows = db.execute("SELECT level FROM check_states WHERE key = ?", (key,))
            previous = Level(rows[0]["level"]) if rows else Level.OK
            db.execute(_SET_CHECK_STATE, (key, int(level), _text(when), _text(when), message))
        return None if previous == level else previous

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
            )
        return {int(row["run"]) for row in rows}

    def mark_runs(self, ids: list[int]) -> None:
        """Remember that the job events of runs ``ids`` are raised."""
        with self._connect() as db:
            for run in ids:
                db.execute(_CLAIM_RUN, (run,))

    def claim_run(self, run: int) -> bool:
        """Mark run ``run`` handled; False when another look had already claimed it (so two
        processes or servers looking at once raise its events once)."""
        with self._connect() as db:
            return bool(db.execute(_CLAIM_RUN, (run,)))

    def meta(self, name: str) -> str | None:
        """A stored setting of the monitor itself (None: not set)."""
        with self._connect() as db:
            rows = db.execute("SELECT value FROM alert_meta WHERE name = ?", (name,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, name: str, value: str) -> None:
        """Store a setting of the monitor itself."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO alert_meta (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # ------------------------------------------------------------ deliveries
    def add_delivery(self, delivery: Delivery) -> Delivery:
        """Store a delivery attempt (its ``id`` is set); returns it."""
        with self._connect() as db:
            delivery.id = db.insert(_INSERT_DELIVERY, _delivery_row(delivery))
        return delivery

    def queue_delivery(self, delivery: Delivery, repeat_since: datetime | None) -> bool:
        """Store ``delivery`` (``pending``) unless its channel got or is getting the same
        key at the same level since ``repeat_since`` (None: no such look); then it is
        stored ``suppressed``. True when it is to be sent. One transaction under a lock
        named after channel and key: of several servers queueing the same alert, one
        sends it."""
        with self._connect() as db:
            db.lock(f"keyark-alerts:delivery:{delivery.channel}:{delivery.key}")
            repeat = repeat_since is not None and bool(
                db.execute(
                    "SELECT id FROM deliveries WHERE channel = ? AND key = ? AND level = ?"
                    " AND status IN ('pending', 'sent') AND time >= ? LIMIT 1",
                    (delivery.channel, delivery.key, int(delivery.level), _text(repeat_since)),
                )
            )
            delivery.status = "suppressed" if repeat else "pending"
            delivery.id = db.insert(_INSERT_DELIVERY, _delivery_row(delivery))
        return not repeat

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
        filters = [
            ("channel = ?", channel),
            ("status = ?", status),
            ("key = ?", key),
            ("time >= ?", None if since is None else _text(since)),
        ]
        with self._connect() as db:
            return [_delivery(row) for row in newest_rows(db, "deliveries", filters, limit)]

    def last_sent(self, channel: str, key: str, level: Level | None = None) -> Delivery | None:
        """The newest delivery of ``key`` (at ``level``, when given) ``channel`` accepted:
        what repeat suppression compares with."""
        filters = [
            ("channel = ?", channel),
            ("key = ?", key),
            ("status = ?", "sent"),
            ("level = ?", None if level is None else int(level)),
        ]
        with self._connect() as db:
            rows = newest_rows(db, "deliveries", filters, 1)
        return _delivery(rows[0]) if rows else None

    def failure_counts(self) -> dict[str, int]:
        """Failed deliveries per channel, ever (the metrics' counter)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT channel, COUNT(*) AS failures FROM deliveries"
                " WHERE status = 'failed' GROUP BY channel"
            )
        return {str(row["channel"]): int(row["failures"]) for row in rows}


_text = time_text


def _alert_row(alert: Alert) -> tuple[Any, ...]:
    return (
        alert.key,
        int(alert.level),
        None if alert.previous is None else int(alert.previous),
        alert.kind,
        alert.title,
        alert.message,
        _text(alert.time),
    )


def _alert(row: Row) -> Alert:
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


def _state(row: Row) -> CheckState:
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


def _delivery(row: Row) -> Delivery:
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
