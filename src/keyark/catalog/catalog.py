"""SQLite catalog of snapshots and directory listings in the local cache.

It is a cache (principle 1): built from the repository, checked against the
repository's snapshot list on every open (missing snapshots are loaded, removed
ones dropped), and rebuilt from scratch by ``keyark catalog rebuild`` or when
its file is missing or unreadable. Trees are stored once per tree id, so a
thousand snapshots of a mostly unchanged tree cost little, and listing or
searching them is a walk with memoisation.

It forgets what the repository forgot: when a snapshot disappears, its row and
every tree no remaining snapshot reaches (with the file names in it) are
deleted, with ``secure_delete`` on, then the file is vacuumed and the
write-ahead log truncated, so the names do not linger in free pages. The
directories it lives in are created 0700 and its files 0600.

A full or unwritable cache disk never stops a command: the catalog then moves to
memory (a copy of what the file held, when it can still be read; else empty, and
:attr:`Catalog.generation` changes so callers rebuild what they read), with one
warning. Only a damaged file (not a disk error) is deleted and rebuilt.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from keyark.cache_dir import (
    MemoryFallback,
    cache_disabled,
    default_cache_dir,
    is_cache_failure,
    private_directory,
    warn_cache_unusable,
)
from keyark.catalog.trees import unique_trees
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import Node
from keyark.state.database import write_ahead_log

#: 3: entry names and link targets are stored as bytes (POSIX names need not be UTF-8).
SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY, time TEXT NOT NULL, time_sort REAL NOT NULL, host TEXT NOT NULL,
    username TEXT NOT NULL, paths TEXT NOT NULL, tags TEXT NOT NULL, tree BLOB NOT NULL,
    parent TEXT, summary TEXT NOT NULL, key_id TEXT NOT NULL, extra TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trees (id BLOB PRIMARY KEY);
CREATE TABLE IF NOT EXISTS nodes (
    tree BLOB NOT NULL, name BLOB NOT NULL, type TEXT NOT NULL, mode INTEGER NOT NULL,
    uid INTEGER NOT NULL, gid INTEGER NOT NULL, user TEXT NOT NULL, grp TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, subtree BLOB, target BLOB NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_tree ON nodes (tree);
"""
#: Trees (and their nodes) that no remaining snapshot reaches.
FORGET_UNREACHABLE = """
CREATE TEMP TABLE IF NOT EXISTS reachable (id BLOB PRIMARY KEY);
DELETE FROM reachable;
INSERT INTO reachable
    WITH RECURSIVE live(id) AS (
        SELECT tree FROM snapshots
        UNION
        SELECT n.subtree FROM nodes n JOIN live l ON n.tree = l.id WHERE n.subtree IS NOT NULL
    )
    SELECT id FROM live;
DELETE FROM nodes WHERE tree NOT IN (SELECT id FROM reachable);
DELETE FROM trees WHERE id NOT IN (SELECT id FROM reachable);
DELETE FROM reachable;
"""


class Catalog(MemoryFallback):
    """One repository's catalog; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        #: Changes when the catalog fell back to an empty in-memory one (see module doc).
        self.generation = 0
        #: True once the catalog lives in memory (full cache disk, or ``--no-cache``).
        self.in_memory = cache_disabled()
        if self.in_memory:
            self._db = _memory_db()
            return
        try:
            private_directory(path.parent)
            self._db = self._connect()
        except (sqlite3.Error, OSError) as error:
            if not is_cache_failure(error):
                raise
            self._db = self._fall_back(error)

    def _fall_back(self, error: BaseException) -> sqlite3.Connection:
        """An in-memory catalog holding what the file held (if still readable)."""
        warn_cache_unusable(self.path.parent.parent, error, "local catalog")
        self.in_memory = True
        memory = _memory_db()
        try:
            disk = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                disk.backup(memory)
            finally:
                disk.close()
            memory.executescript(SCHEMA)
        except sqlite3.Error:
            memory.close()
            memory = _memory_db()
            self.generation += 1
        return memory

    def _connect(self) -> sqlite3.Connection:
        try:
            db = self._open_db()
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or int(row[0]) != SCHEMA_VERSION:
                db.close()
                raise sqlite3.DatabaseError("old schema")
            return db
        except sqlite3.DatabaseError as error:
            if is_cache_failure(error):
                raise  # a full or unwritable disk: the file is fine, keep it
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            db = self._open_db()
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.commit()
            return db

    def _open_db(self) -> sqlite3.Connection:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
        db = sqlite3.connect(self.path, check_same_thread=False)
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA temp_store=MEMORY")
        write_ahead_log(db)
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        for suffix in ("-wal", "-shm"):
            try:
                os.chmod(str(self.path) + suffix, 0o600)
            except FileNotFoundError:
                pass
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def clear(self) -> None:
        """Forget everything (the names too: the file is vacuumed)."""

        def clear() -> None:
            self._db.executescript("DELETE FROM snapshots; DELETE FROM trees; DELETE FROM nodes;")
            self._db.commit()
            self._compact()

        self._writing(clear)

    def _compact(self) -> None:
        """Rewrite the file without free pages and empty the write-ahead log (lock held).

        Best effort: another process using the catalog at this moment can make SQLite
        refuse; deleted rows are zeroed anyway (``secure_delete``), and the next
        forget compacts again.
        """
        try:
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass

    # ----------------------------------------------------------------- snapshots
    def snapshot_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM snapshots")}

    def add_snapshots(self, snapshots: Iterable[Snapshot]) -> None:
        rows = [
            (
                s.id,
                s.time.isoformat(),
                s.time.timestamp(),
                s.host,
                s.username,
                json.dumps(s.paths),
                json.dumps(s.tags),
                s.tree,
                s.parent,
                json.dumps(s.summary),
                s.key_id,
                json.dumps(_jsonable(s.extra)),
            )
            for s in snapshots
        ]

        def add() -> None:
            self._db.executemany(
                "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )
            self._db.commit()

        self._writing(add)

    def remove_snapshots(self, ids: Iterable[str]) -> None:
        """Forget snapshots ``ids`` and every tree (file names) only they reached."""
        gone = [(i,) for i in ids]

        def remove() -> None:
            self._db.executemany("DELETE FROM snapshots WHERE id=?", gone)
            self._db.executescript(FORGET_UNREACHABLE)
            self._db.commit()
            self._compact()

        self._writing(remove)

    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, time, host, username, paths, tags, tree, parent, summary, key_id, "
                "extra FROM snapshots ORDER BY time_sort, id"
            ).fetchall()
        return [
            Snapshot(
                id=row[0],
                time=datetime.fromisoformat(row[1]),
                host=row[2],
                username=row[3],
                paths=json.loads(row[4]),
                tags=json.loads(row[5]),
                tree=bytes(row[6]),
                parent=row[7],
                summary=json.loads(row[8]),
                key_id=row[9],
                extra=json.loads(row[10]),
            )
            for row in rows
        ]

    # ----------------------------------------------------------------- trees
    def has_tree(self, tree_id: bytes) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM trees WHERE id=?", (tree_id,)).fetchone()
                is not None
            )

    def add_tree(self, tree_id: bytes, nodes: list[Node]) -> None:
        rows = [
            (
                tree_id,
                os.fsencode(n.name),
                n.type,
                n.mode,
                n.uid,
                n.gid,
                n.user,
                n.group,
                n.mtime_ns,
                n.size,
                n.subtree,
                os.fsencode(n.target),
                b"".join(n.content),
            )
            for n in nodes
        ]
        with self._lock:
            if self.has_tree(tree_id):
                return
            self._db.execute("INSERT INTO trees VALUES (?)", (tree_id,))
            self._db.executemany("INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def commit(self) -> None:
        self._writing(self._db_commit)

    def _db_commit(self) -> None:
        self._db.commit()

    def ensure_trees(self, root: bytes, load_tree: Callable[[bytes], list[Node]]) -> None:
        """Load every tree below ``root`` that the catalog does not have yet.

        One unit of work: if the cache disk fails on the way, it runs again in memory
        (trees added before the failure were not committed).
        """

        def ensure() -> None:
            for tree_id, nodes in unique_trees(load_tree, [root], known=self.has_tree):
                self.add_tree(tree_id, nodes)
            self._db.commit()

        self._writing(ensure)

    def tree(self, tree_id: bytes) -> list[Node]:
        """A directory listing from the catalog (its content field is the joined ids)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, type, mode, uid, gid, user, grp, mtime_ns, size, subtree, target, "
                "content FROM nodes WHERE tree=? ORDER BY name",
                (tree_id,),
            ).fetchall()
        return [
            Node(
                name=os.fsdecode(bytes(r[0])),
                type=r[1],
                mode=r[2],
                uid=r[3],
                gid=r[4],
                user=r[5],
                group=r[6],
                mtime_ns=r[7],
                size=r[8],
                subtree=bytes(r[9]) if r[9] is not None else None,
                target=os.fsdecode(bytes(r[10])),
                content=[bytes(r[11][i : i + 32]) for i in range(0, len(r[11]), 32)],
            )
            for r in rows
        ]


def _memory_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript(SCHEMA)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    db.commit()
    return db


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


__all__ = ["Catalog", "default_cache_dir"]
