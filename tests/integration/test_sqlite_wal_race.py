"""Servers starting together on a new SQLite file: the switch to WAL mode is contended.

SQLite answers "database is locked" at once (no busy timeout) to a connection switching
the journal mode while others switch too; :func:`keyark.state.database.write_ahead_log`
waits and tries again. Seen as one of six server threads failing to start.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from keyark.control.database import SqliteDatabase

THREADS = 6


def _together(work: Callable[[], None]) -> list[BaseException]:
    """Run ``work`` in six threads released at once; the exceptions they raised."""
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            work()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_transactions_on_a_new_file_all_start(tmp_path: Path) -> None:
    for round_ in range(60):
        database = SqliteDatabase(tmp_path / f"r{round_}" / "state.db")

        def work(database: SqliteDatabase = database) -> None:
            with database.transaction() as db:
                db.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER)")

        assert _together(work) == []
        assert sqlite3.connect(database.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_plain_switch_does_fail_when_contended(tmp_path: Path) -> None:
    """Positive control: the bare ``PRAGMA journal_mode=WAL`` of six connections on a new
    file is refused now and then (the rounds stop at the first refusal)."""
    refused: list[BaseException] = []
    for round_ in range(1000):
        path = tmp_path / f"r{round_}.db"
        path.touch()

        def work(path: Path = path) -> None:
            connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER)")
                connection.execute("COMMIT")
            finally:
                connection.close()

        refused = _together(work)
        if refused:
            break
    assert refused and all("locked" in str(error) for error in refused)
