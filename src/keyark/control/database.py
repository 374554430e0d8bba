"""The storage interface of the control plane and its two engines.

A store opens a transaction with :meth:`ControlDatabase.transaction` and runs ``?``-style
SQL through the :class:`Transaction` it gets (rows come back as dicts); the block commits
when it ends and rolls back on an exception. Each transaction opens its own connection,
so several threads and processes share a database safely.

- :class:`SqliteDatabase`: one file (created 0600 in a 0700 directory), WAL journal,
  ``BEGIN IMMEDIATE`` (a transaction holds the write lock from its start).
- :class:`PostgresDatabase`: a ``postgresql://`` URL (psycopg 3). The URL never holds a
  password: libpq reads it from ``passfile=`` in the URL, ``PGPASSFILE`` or
  ``PGPASSWORD``; :func:`check_database_url` refuses one, and ``repr`` shows the URL only.
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from keyark.cache_dir import private_directory
from keyark.control.dialect import POSTGRESQL, SQLITE, Dialect
from keyark.state.database import write_ahead_log

Row = dict[str, Any]


class Transaction(Protocol):
    """One open transaction of a control database."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run one statement (``?`` parameters); its result rows (none for a write)."""
        ...

    def insert(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one ``INSERT`` into a table with a ``{serial}`` id; the new row's id."""
        ...

    def lock(self, name: str) -> None:
        """Hold an exclusive lock called ``name`` until the transaction ends."""
        ...


class ControlDatabase(Protocol):
    """Where the control plane's state lives."""

    dialect: Dialect

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction: committed when the block ends, rolled back on an exception."""
        ...


class _SqliteTransaction:
    dialect = SQLITE

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        cursor = self._connection.execute(sql, tuple(params))
        return [dict(row) for row in cursor.fetchall()]

    def insert(self, sql: str, params: Sequence[object] = ()) -> int:
        row = self._connection.execute(f"{sql} RETURNING id", tuple(params)).fetchone()
        return int(row[0])

    def lock(self, name: str) -> None:
        """``BEGIN IMMEDIATE`` already holds the database's write lock."""


class SqliteDatabase:
    """A control database in one SQLite file (the default: one server)."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"SqliteDatabase({str(self.path)!r})"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction holding the write lock from its start (see the module)."""
        private_directory(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            write_ahead_log(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.row_factory = sqlite3.Row
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()


class _PostgresTransaction:
    dialect = POSTGRESQL

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        cursor = self._connection.execute(POSTGRESQL.sql(sql), tuple(params))
        if cursor.description is None:
            return []
        return list(cursor.fetchall())

    def insert(self, sql: str, params: Sequence[object] = ()) -> int:
        cursor = self._connection.execute(POSTGRESQL.sql(f"{sql} RETURNING id"), tuple(params))
        return int(cursor.fetchone()["id"])

    def lock(self, name: str) -> None:
        key = zlib.crc32(name.encode()) - 2**31
        self._connection.execute("SELECT pg_advisory_xact_lock(%s)", (key,))


class PostgresDatabase:
    """A control database on a PostgreSQL server (several servers share it)."""

    dialect = POSTGRESQL

    def __init__(self, url: str) -> None:
        self.url = check_database_url(url)

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.url!r})"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction on a new connection (read committed)."""
        import psycopg
        from psycopg.rows import dict_row

        connect = psycopg.connect(self.url, row_factory=dict_row, connect_timeout=30)
        with connect as connection, connection.transaction():
            yield _PostgresTransaction(connection)


class DatabaseUrlError(ValueError):
    """A control database URL that cannot be used (or holds a password)."""


def check_database_url(url: str) -> str:
    """``url`` if it is a ``postgresql://`` URL without a password; else DatabaseUrlError."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise DatabaseUrlError("the control database must be a postgresql:// URL")
    if parts.password is not None or "password=" in parts.query:
        raise DatabaseUrlError(
            "the control database URL must not hold a password: give it in a file"
            " (passfile= in the URL, or PGPASSFILE) or in PGPASSWORD"
        )
    return url


def open_database(state_dir: Path, url: str | None = None) -> ControlDatabase:
    """PostgreSQL at ``url`` when given, else SQLite ``state.db`` in ``state_dir``."""
    if url:
        return PostgresDatabase(url)
    return SqliteDatabase(state_dir / "state.db")
