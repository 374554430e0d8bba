"""Versioned schemas: each store's numbered migrations, applied once, in order.

A store names itself (``runs``, ``claims``) and lists its migrations, each a tuple of
statements written for both engines (see :mod:`keyark.control.dialect`); the table
``schema_versions`` remembers how many of each store's migrations a database has. New
versions are appended, never edited. Several processes may start at once: the check and
the migrations run in one transaction under an exclusive lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyark.control.database import ControlDatabase, SqliteDatabase

Migration = Sequence[str]

_VERSIONS = (
    "CREATE TABLE IF NOT EXISTS schema_versions ("
    " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)

#: Databases already brought up to date by this process: (identity, component, version).
_DONE: set[tuple[str, str, int]] = set()


def _identity(database: ControlDatabase) -> str:
    """The database's name; a SQLite file's also names its inode (a deleted and re-made
    file is migrated again)."""
    if isinstance(database, SqliteDatabase):
        try:
            stat = database.path.stat()
        except FileNotFoundError:
            return f"{database!r}:missing"  # never cached: made after the migration
        return f"{database!r}:{stat.st_dev}:{stat.st_ino}"
    return repr(database)


def migrate(database: ControlDatabase, component: str, migrations: Sequence[Migration]) -> int:
    """Apply ``component``'s migrations the database does not have yet; its version after."""
    if (_identity(database), component, len(migrations)) in _DONE:
        return len(migrations)
    with database.transaction() as db:
        db.lock("keyark-schema")
        db.execute(_VERSIONS)
        rows = db.execute("SELECT version FROM schema_versions WHERE component = ?", (component,))
        current = int(rows[0]["version"]) if rows else 0
        for migration in migrations[current:]:
            for statement in migration:
                db.execute(db.dialect.ddl(statement))
        if len(migrations) > current:
            db.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, len(migrations)),
            )
    _DONE.add((_identity(database), component, len(migrations)))
    return max(current, len(migrations))
