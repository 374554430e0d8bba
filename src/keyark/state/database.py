"""The SQLite files of the state directory (run history, alerts): one way to open them.

Each call opens its own connection (several processes and threads share the file):
the directory is made 0700 and the file 0600 before SQLite touches it, the journal is
WAL with ``synchronous=NORMAL`` (never corrupt; a power cut may lose the newest rows,
not the file), the schema is applied, rows come back as :class:`sqlite3.Row`, and the
block runs in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from keyark.cache_dir import private_directory


@contextmanager
def state_database(path: Path, schema: str) -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` (created 0600 in a 0700 directory) with ``schema`` applied."""
    private_directory(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    connection = sqlite3.connect(path, timeout=30.0)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(schema)
        connection.row_factory = sqlite3.Row
        with connection:
            yield connection
    finally:
        connection.close()


def time_text(moment: datetime) -> str:
    """ISO 8601 in UTC (naive times are taken as UTC), so text order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def newest_query(
    table: str, filters: Sequence[tuple[str, object]], limit: int | None = None
) -> tuple[str, list[object]]:
    """The query (newest first) and parameters for the rows of ``table`` matching every
    ``(clause, value)`` filter whose value is not None (each clause holds one ``?``);
    ``limit`` keeps the newest ones.

    ``table`` and the clauses are the caller's fixed text; only the values are parameters.
    """
    given = [(clause, value) for clause, value in filters if value is not None]
    where = f"WHERE {' AND '.join(c for c, _ in given)}" if given else ""
    query = f"SELECT * FROM {table} {where} ORDER BY id DESC"  # noqa: S608 (fixed text)
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return query, [value for _, value in given]


def newest_rows(
    connection: sqlite3.Connection,
    table: str,
    filters: Sequence[tuple[str, object]],
    limit: int | None = None,
) -> list[sqlite3.Row]:
    """The rows :func:`newest_query` selects, oldest first by ``id``."""
    query, parameters = newest_query(table, filters, limit)
    return list(reversed(connection.execute(query, parameters).fetchall()))
