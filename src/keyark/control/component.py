"""One store's tables in a control database: migrated, and a former file imported, before
each transaction.

A store (the access tables, the fleet registry) names its component, its migrations and
the per-host SQLite file it used before the control database; :class:`ComponentTables`
opens its transactions on the database given, or on SQLite ``state.db`` in the state
directory (the run history's file) when none is.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from keyark.control.database import ControlDatabase, SqliteDatabase, Transaction
from keyark.control.legacy import LegacyTable, import_legacy
from keyark.control.migrations import Migration, migrate

#: The SQLite file in the state directory when no shared database is configured.
FILE_NAME = "state.db"


class ComponentTables:
    """The tables of ``component`` in one control database."""

    def __init__(
        self,
        state_dir: Path,
        database: ControlDatabase | None,
        component: str,
        migrations: Sequence[Migration],
        legacy: tuple[str, Sequence[LegacyTable]] | None = None,
    ) -> None:
        """``database``: the control database (default: SQLite ``state.db`` in
        ``state_dir``); ``legacy``: the former file's name in ``state_dir`` and its tables."""
        self.state_dir = Path(state_dir)
        self.database: ControlDatabase = database or SqliteDatabase(self.state_dir / FILE_NAME)
        self.component = component
        self.migrations = migrations
        self.legacy = legacy

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction (the component's migrations applied, its former file imported)."""
        migrate(self.database, self.component, self.migrations)
        if self.legacy is not None:
            name, tables = self.legacy
            import_legacy(self.database, self.component, self.state_dir / name, tables)
        return self.database.transaction()
