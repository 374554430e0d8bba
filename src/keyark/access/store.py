"""The server's access database: ``access.db`` in the state directory (0600, directory 0700).

Tables:

- ``tokens``: API tokens by public id (the part of the token after ``kya_``): name, role,
  Argon2id hash of the whole token, creation, expiry, last use, revocation;
- ``users``: dashboard users: role, Argon2id password hash, TOTP secret and last step;
- ``sessions``: dashboard sessions by the SHA-256 of their id (a copy of the file holds
  no usable cookie), principal, role, CSRF token, expiry;
- ``lockouts``: failed logins per login name and the time a lockout ends.

Each call opens its own connection (:func:`keyark.state.database.state_database`), so
the server's threads and a ``server token`` command share the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from keyark.state.database import state_database, time_text

#: The file name in the state directory.
FILE_NAME = "access.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    last_used TEXT,
    revoked TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens (name) WHERE revoked IS NULL;
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    totp_secret TEXT,
    totp_last_step INTEGER,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    role TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
CREATE TABLE IF NOT EXISTS lockouts (
    name TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until TEXT
);
"""


#: Files this process has applied the schema to (each request then skips it).
_PREPARED: set[Path] = set()


class AccessDatabase:
    """``access.db`` of one state directory; :meth:`connect` is one transaction."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection (schema applied, rows as :class:`sqlite3.Row`), one transaction."""
        prepared = self.path in _PREPARED and self.path.exists()
        with state_database(self.path, "" if prepared else _SCHEMA) as connection:
            yield connection
        _PREPARED.add(self.path)


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def stored_time(moment: datetime | None) -> str | None:
    """``moment`` as the database keeps it (ISO 8601 UTC), or None."""
    return None if moment is None else time_text(moment)


def read_time(text: str | None) -> datetime | None:
    """A stored time back as an aware datetime, or None."""
    return None if text is None else datetime.fromisoformat(text)


__all__ = ["FILE_NAME", "AccessDatabase", "now_utc", "read_time", "stored_time"]
