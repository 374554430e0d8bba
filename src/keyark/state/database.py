"""SQLite pieces keyark's local databases share: the newest-rows query of the control
database's stores (run history, alerts) and the switch to WAL mode.

The stores themselves live in the control database (:mod:`keyark.control`);
:func:`keyark.control.rows.newest_rows` runs this query through its interface.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence


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


def write_ahead_log(connection: sqlite3.Connection, patience: float = 30.0) -> None:
    """Put the database in WAL mode (it stays so). Switching needs an exclusive lock, and
    SQLite answers "locked" at once, without its busy timeout, while other connections
    switch too (servers starting together on a new file): wait and try again."""
    deadline = time.monotonic() + patience
    pause = 0.005
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
