"""The server's access tables, in the control database (:mod:`keyark.control`): SQLite
``state.db`` in the state directory by default (0600, directory 0700; the run history's
file), or the PostgreSQL database several servers share (``server.database``).

Tables (component ``access`` of :mod:`keyark.control.migrations`):

- ``tokens``: API tokens by public id (the part of the token after ``kya_``): name, role,
  Argon2id hash of the whole token, creation, expiry, last use, revocation;
- ``users``: dashboard users: role, Argon2id password hash, TOTP secret and last step;
- ``sessions``: dashboard sessions by the SHA-256 of their id (a copy of the database
  holds no usable cookie), principal, role, CSRF token, expiry;
- ``lockouts``: failed logins per login name and the time a lockout ends;
- ``enrolment_tokens`` and ``agent_report_tokens`` (:mod:`keyark.access.enrolment`).

Each call opens its own transaction (and connection), so the server's threads, several
servers and a ``server token`` command share the tables. A former ``access.db`` of the
state directory is imported once (:mod:`keyark.control.legacy`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from keyark.control.component import FILE_NAME, ComponentTables
from keyark.control.database import ControlDatabase
from keyark.control.dialect import time_text
from keyark.control.legacy import LegacyTable

#: Where the access tables lived before the control database (imported once).
LEGACY_FILE_NAME = "access.db"

#: The access tables' schema versions (append only).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            hash TEXT NOT NULL,
            created TEXT NOT NULL,
            expires TEXT,
            last_used TEXT,
            revoked TEXT
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens (name) WHERE revoked IS NULL",
        """CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            hash TEXT NOT NULL,
            totp_secret TEXT,
            totp_last_step {bigint},
            created TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS sessions (
            id_hash TEXT PRIMARY KEY,
            principal TEXT NOT NULL,
            role TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created TEXT NOT NULL,
            expires TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires)",
        """CREATE TABLE IF NOT EXISTS lockouts (
            name TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            locked_until TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS enrolment_tokens (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            hash TEXT NOT NULL,
            created TEXT NOT NULL,
            expires TEXT NOT NULL,
            used TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS agent_report_tokens (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            hash TEXT NOT NULL,
            created TEXT NOT NULL,
            revoked TEXT
        )""",
    ),
)

#: What a former ``access.db`` holds, copied once into the control database.
LEGACY_TABLES = (
    LegacyTable(
        "tokens", ("id", "name", "role", "hash", "created", "expires", "last_used", "revoked")
    ),
    LegacyTable("users", ("name", "role", "hash", "totp_secret", "totp_last_step", "created")),
    LegacyTable("sessions", ("id_hash", "principal", "role", "csrf", "created", "expires")),
    LegacyTable("lockouts", ("name", "failures", "locked_until")),
    LegacyTable("enrolment_tokens", ("id", "host", "hash", "created", "expires", "used")),
    LegacyTable("agent_report_tokens", ("id", "host", "hash", "created", "revoked")),
)


class AccessDatabase(ComponentTables):
    """The access tables of one control database; :meth:`transaction` is one transaction."""

    def __init__(self, state_dir: Path, database: ControlDatabase | None = None) -> None:
        """``database``: the control database (default: SQLite ``state.db`` in ``state_dir``)."""
        super().__init__(
            state_dir, database, "access", MIGRATIONS, (LEGACY_FILE_NAME, LEGACY_TABLES)
        )


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def stored_time(moment: datetime | None) -> str | None:
    """``moment`` as the database keeps it (ISO 8601 UTC), or None."""
    return None if moment is None else time_text(moment)


def read_time(text: str | None) -> datetime | None:
    """A stored time back as an aware datetime, or None."""
    return None if text is None else datetime.fromisoformat(text)


__all__ = [
    "FILE_NAME",
    "LEGACY_FILE_NAME",
    "AccessDatabase",
    "ControlDatabase",
    "now_utc",
    "read_time",
    "stored_time",
]
