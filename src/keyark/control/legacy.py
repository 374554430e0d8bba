"""Bringing a store's former per-host SQLite file into the control database, once.

Before the control database, some stores kept their own file in the state directory
(``access.db``, ``fleet.db``). The first transaction of such a store on a state directory
where the old file still lies copies its rows in (a row whose key the control database
already has is kept as it is there) and renames the file ``<name>.imported``, in one
transaction holding a lock named after the store: two processes starting together import
once. The old file is renamed before the transaction commits and renamed back when it
fails, so a failed import is tried again by the next process; a process that finds it
renamed takes the lock once before reading, so it never reads before the import commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from keyark.control.database import ControlDatabase, Transaction


@dataclass(frozen=True)
class LegacyTable:
    """A table of the old file: its name, the columns copied, and whether rows keep their
    key (``False`` for an auto-numbered ``id``: copied rows are numbered afresh, in order)."""

    name: str
    columns: tuple[str, ...]
    keyed: bool = True


#: Old files this process found imported (or absent) already.
_SETTLED: set[Path] = set()


def import_legacy(
    database: ControlDatabase, component: str, legacy: Path, tables: Sequence[LegacyTable]
) -> int:
    """Copy ``tables`` of the old file ``legacy`` into ``database`` (see the module); how
    many rows were copied (0 when there is no old file)."""
    if legacy in _SETTLED:
        return 0
    imported = legacy.with_name(legacy.name + ".imported")
    if not legacy.exists():
        if imported.exists():
            # Renamed, but maybe by an import whose transaction has not committed yet:
            # its lock is held until it has, so taking the lock once waits for its rows.
            with database.transaction() as db:
                db.lock(f"keyark-import:{component}")
            _SETTLED.add(legacy)
        return 0
    copied = 0
    with database.transaction() as db:
        db.lock(f"keyark-import:{component}")
        if not legacy.exists():  # another process imported it while this one waited
            _SETTLED.add(legacy)
            return 0
        rows = _read(legacy, tables)
        legacy.rename(imported)
        try:
            for table in tables:
                copied += _copy(db, table, rows[table.name])
        except BaseException:
            imported.rename(legacy)
            raise
    _SETTLED.add(legacy)
    return copied


def _read(legacy: Path, tables: Sequence[LegacyTable]) -> dict[str, list[tuple[object, ...]]]:
    """Each table's rows (none for a table the old file does not have), in rowid order."""
    connection = sqlite3.connect(f"file:{legacy}?mode=ro", uri=True, timeout=30.0)
    try:
        present = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        return {
            table.name: (
                connection.execute(
                    f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY rowid"  # noqa: S608
                ).fetchall()
                if table.name in present
                else []
            )
            for table in tables
        }
    finally:
        connection.close()


def _copy(db: Transaction, table: LegacyTable, rows: list[tuple[object, ...]]) -> int:
    if not rows:
        return 0
    marks = ", ".join("?" for _ in table.columns)
    sql = f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})"  # noqa: S608
    if table.keyed:
        sql += " ON CONFLICT DO NOTHING"
    for row in rows:
        db.execute(sql, row)
    return len(rows)
