"""A write-only agent's local dedup cache: blob ids, pack positions and file metadata.

An agent cannot read the repository's index or its own past snapshots, so it
remembers what it uploaded (ids and positions only, never content) and the
metadata of files it saved. Packs that are gone from storage (pruned or
re-encrypted) are forgotten at start. Losing the cache costs dedup, never
correctness.

It keeps no content id of a file the agent no longer holds: when a file changed
or vanished, its row is dropped, and every blob id no current file (or tree of
the last backup) refers to is deleted, with SQLite's ``secure_delete`` so the
bytes do not linger in free pages. Otherwise a compromised agent host could
confirm guesses about content it no longer has (say, a rotated password in a
``.env`` file) by hashing candidates with the id key and looking them up here.

A full or unwritable cache disk (or ``--no-cache``) never stops the backup: the
cache continues empty, in memory, for the rest of the run (dedup against what it
held is lost, correctness is not), with one warning naming the directory.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from keyark.cache_dir import (
    MemoryFallback,
    cache_disabled,
    is_cache_failure,
    private_directory,
    warn_cache_unusable,
)
from keyark.repo.index import MasterIndex, PackRecord
from keyark.repo.pack import PackEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (id BLOB PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
    id BLOB NOT NULL, pack BLOB NOT NULL, kind INTEGER NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, raw INTEGER NOT NULL, compression INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_pack ON blobs (pack);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER, ctime INTEGER, inode INTEGER,
    content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS trees (id BLOB PRIMARY KEY);
"""
ID_SIZE = 32


class AgentCache(MemoryFallback):
    """SQLite cache in ``<cache dir>/<repo id>/agent-<name>.sqlite`` (0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: True once the cache lives in memory (full cache disk, or ``--no-cache``).
        self.in_memory = cache_disabled()
        self._lock = threading.RLock()
        if self.in_memory:
            self._db = _memory_db()
        else:
            try:
                self._db = _open_db(path)
            except (sqlite3.Error, OSError) as error:
                if not is_cache_failure(error):
                    raise
                self._db = self._fall_back(error)
        self._files: list[tuple[str, int, int, int, int, bytes]] = []
        self._trees: set[bytes] = set()
        self._sources: list[str] = []
        self._dropped = False

    def _fall_back(self, error: BaseException) -> sqlite3.Connection:
        warn_cache_unusable(self.path.parent.parent, error, "agent's dedup cache")
        self.in_memory = True
        return _memory_db()

    def pack_ids(self) -> list[bytes]:
        """The packs this cache names (whose presence :meth:`load_into` is given)."""
        return self._writing(
            lambda: [bytes(p) for (p,) in self._db.execute("SELECT id FROM packs")]
        )

    def load_into(self, index: MasterIndex, present: dict[bytes, int]) -> None:
        """Fill ``index`` with what this agent uploaded and is still in storage."""
        self._writing(lambda: self._load_into(index, present))

    def _load_into(self, index: MasterIndex, present: dict[bytes, int]) -> None:
        with self._lock:
            gone = [
                (pack,)
                for (pack, size) in self._db.execute("SELECT id, size FROM packs")
                if present.get(bytes(pack)) != size
            ]
            self._db.executemany("DELETE FROM packs WHERE id=?", gone)
            self._db.executemany("DELETE FROM blobs WHERE pack=?", gone)
            self._db.commit()
            rows = self._db.execute(
                "SELECT p.id, p.size, b.kind, b.id, b.offset, b.length, b.raw, b.compression "
                "FROM packs p JOIN blobs b ON b.pack = p.id ORDER BY p.id"
            ).fetchall()
        by_pack: dict[bytes, tuple[int, list[PackEntry]]] = {}
        for pack, size, kind, blob, offset, length, raw, compression in rows:
            entries = by_pack.setdefault(bytes(pack), (size, []))[1]
            entries.append(PackEntry(kind, bytes(blob), offset, length, raw, compression))
        for pack_id, (size, entries) in by_pack.items():
            index.add_pack(pack_id, size, entries)

    def add_pack(self, record: PackRecord) -> None:
        self._writing(lambda: self._add_pack(record))

    def _add_pack(self, record: PackRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO packs VALUES (?, ?)", (record.pack_id, record.size)
            )
            self._db.executemany(
                "INSERT INTO blobs VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        e.blob_id,
                        record.pack_id,
                        e.kind,
                        e.offset,
                        e.length,
                        e.raw_length,
                        e.compression,
                    )
                    for e in record.entries
                ],
            )
            self._db.commit()

    def begin(self, sources: Iterable[str]) -> None:
        """Start a backup of ``sources``: files below them not recorded by then are gone."""
        with self._lock:
            self._sources = [source.rstrip("/") or "/" for source in sources]
            self._files = []
            self._trees = set()

    def lookup(self, path: str, st: os.stat_result) -> list[bytes] | None:
        """Content ids of ``path`` if it is unchanged since it was saved.

        A changed file's row is dropped at once: its old content ids are not kept.
        """
        row = self._writing(lambda: self._lookup(path, st))
        if row is None:
            return None
        content = bytes(row[4])
        return [content[i : i + ID_SIZE] for i in range(0, len(content), ID_SIZE)]

    def _lookup(self, path: str, st: os.stat_result) -> tuple[int, int, int, int, bytes] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT size, mtime, ctime, inode, content FROM files WHERE path=?", (path,)
            ).fetchone()
            if row is None:
                return None
            if tuple(row[:4]) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino):
                self._db.execute("DELETE FROM files WHERE path=?", (path,))
                self._db.commit()
                self._dropped = True
                return None
            found: tuple[int, int, int, int, bytes] = row
            return found

    def record(self, path: str, st: os.stat_result, content: list[bytes]) -> None:
        """Remember ``path``'s metadata and content ids (saved by :meth:`commit`)."""
        with self._lock:
            self._files.append(
                (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, b"".join(content))
            )

    def record_tree(self, tree_id: bytes) -> None:
        """Remember a tree of this backup (its id stays usable for dedup)."""
        with self._lock:
            self._trees.add(tree_id)

    def commit(self) -> None:
        """Save recorded files (after the snapshot is stored) and forget everything else.

        Files below this backup's sources that were not recorded (vanished, excluded
        or unreadable) lose their rows; blob ids no remaining file and no tree of this
        backup refers to are deleted.
        """
        self._writing(self._commit)

    def _commit(self) -> None:
        with self._lock:
            recorded = {row[0] for row in self._files}
            stale = [
                (path,)
                for (path,) in self._db.execute("SELECT path FROM files")
                if path not in recorded and self._below_sources(path)
            ]
            self._db.executemany("DELETE FROM files WHERE path=?", stale)
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)", self._files)
            self._db.execute("DELETE FROM trees")
            self._db.executemany("INSERT INTO trees VALUES (?)", [(t,) for t in self._trees])
            self._collect()
            self._files = []
            self._trees = set()
            self._dropped = False

    def _below_sources(self, path: str) -> bool:
        return any(
            path == source or path.startswith(source + "/") or source == "/"
            for source in self._sources
        )

    def _collect(self) -> None:
        """Delete blob ids nothing current refers to (call with the lock held)."""
        live: set[bytes] = {bytes(tree) for (tree,) in self._db.execute("SELECT id FROM trees")}
        for (content,) in self._db.execute("SELECT content FROM files"):
            data = bytes(content)
            live.update(data[i : i + ID_SIZE] for i in range(0, len(data), ID_SIZE))
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS live (id BLOB PRIMARY KEY)")
        self._db.execute("DELETE FROM live")
        self._db.executemany("INSERT OR IGNORE INTO live VALUES (?)", [(i,) for i in live])
        self._db.execute("DELETE FROM blobs WHERE id NOT IN (SELECT id FROM live)")
        self._db.execute("DELETE FROM packs WHERE id NOT IN (SELECT pack FROM blobs)")
        self._db.execute("DELETE FROM live")
        self._db.commit()

    def close(self) -> None:
        """Close; content ids of files found changed in an unfinished backup are dropped."""
        with self._lock:
            try:
                if self._dropped:
                    self._collect()
            except (sqlite3.Error, OSError) as error:
                if not is_cache_failure(error):
                    raise
                warn_cache_unusable(self.path.parent.parent, error, "agent's dedup cache")
            finally:
                self._db.close()


def _open_db(path: Path) -> sqlite3.Connection:
    private_directory(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    db = sqlite3.connect(path, check_same_thread=False)
    try:
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA temp_store=MEMORY")
        db.executescript(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _memory_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("PRAGMA secure_delete=ON")
    db.executescript(SCHEMA)
    return db
