"""A write-only agent's local dedup cache: blob ids, pack positions and file metadata.

An agent cannot read the repository's index or its own past snapshots, so it
remembers what it uploaded (ids and positions only, never content) and the
metadata of files it saved. Packs that are gone from storage (pruned or
re-encrypted) are forgotten at start. Losing the cache costs dedup, never
correctness.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

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
"""


class AgentCache:
    """SQLite cache in ``<cache dir>/<repo id>/agent-<name>.sqlite`` (0600)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._files: list[tuple[str, int, int, int, int, bytes]] = []

    def load_into(self, index: MasterIndex, present: dict[bytes, int]) -> None:
        """Fill ``index`` with what this agent uploaded and is still in storage."""
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

    def lookup(self, path: str, st: os.stat_result) -> list[bytes] | None:
        """Content ids of ``path`` if it is unchanged since it was saved."""
        with self._lock:
            row = self._db.execute(
                "SELECT size, mtime, ctime, inode, content FROM files WHERE path=?", (path,)
            ).fetchone()
        if row is None or tuple(row[:4]) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino):
            return None
        content = bytes(row[4])
        return [content[i : i + 32] for i in range(0, len(content), 32)]

    def record(self, path: str, st: os.stat_result, content: list[bytes]) -> None:
        with self._lock:
            self._files.append(
                (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, b"".join(content))
            )

    def commit(self) -> None:
        """Save recorded files (after the snapshot is stored)."""
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)", self._files)
            self._db.commit()
            self._files = []

    def close(self) -> None:
        with self._lock:
            self._db.close()
