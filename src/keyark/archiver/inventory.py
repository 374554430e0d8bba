"""Recording the key and certificate inventory while a backup reads its files.

Candidates are chosen cheaply (name, size, first bytes: :func:`is_candidate`) from
the bytes the backup reads anyway, so no file is opened twice; only candidates
(at most :data:`MAX_CANDIDATE_SIZE` bytes each) are kept in memory, for the time
it takes to parse them. A file the parent snapshot has unchanged is not read: its
findings are taken over from the parent's inventory. When the parent has no
inventory (or a write-only agent reuses its file cache), an unchanged file's first
bytes are read to decide, and a candidate is read whole: once, since the next
backup's parent has an inventory.

Findings are recorded only for files that end up in the snapshot; :meth:`finish`
links them across files (certificate and key pairs, expiry) at the end.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterable
from datetime import datetime

from keyark.archiver import walk
from keyark.errors import SourceError
from keyark.inventory.model import (
    HEAD_BYTES,
    MAX_CANDIDATE_SIZE,
    Finding,
    Inventory,
    is_candidate,
    link,
    recognise,
)


class InventoryRecorder:
    """The findings of one backup, with the parent's to take over for unchanged files."""

    def __init__(self, parent: Inventory | None) -> None:
        #: The parent's findings by path (None: the parent has no inventory).
        self._parent: dict[str, list[Finding]] | None = None
        if parent is not None:
            self._parent = {}
            for finding in parent.findings:
                self._parent.setdefault(finding.path, []).append(finding)
        self._found: dict[str, list[Finding]] = {}
        self._lock = threading.Lock()
        #: How many files were parsed (candidates), for the benchmark and tests.
        self.parsed = 0
        #: Files whose recognition failed (path and error type: never content).
        self.failures: list[str] = []

    def inspect(
        self, path: str, data: bytes, st: os.stat_result, size: int | None = None
    ) -> list[Finding] | None:
        """The findings of file ``path`` read as ``data`` (None: not a candidate).

        ``size`` is the length read when ``data`` holds only the start of a file too
        large to be a candidate (it is then never parsed).
        """
        if not is_candidate(path, len(data) if size is None else size, data[:HEAD_BYTES]):
            return None
        with self._lock:
            self.parsed += 1
        try:
            return recognise(
                path, data, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid
            )
        except Exception as error:  # a parser bug never fails the backup; it is told
            with self._lock:
                self.failures.append(f"{path}: {type(error).__name__}")
            return None

    def add(self, path: str, findings: Iterable[Finding]) -> None:
        """Record the findings of ``path`` (a file saved in the snapshot)."""
        found = list(findings)
        if found:
            with self._lock:
                self._found[path] = found

    def unchanged(self, dir_fd: int, name: str, path: str, st: os.stat_result) -> None:
        """Record the findings of an unchanged file that is not read for the backup."""
        if self._parent is not None:
            self.add(path, self._parent.get(path, ()))
            return
        if not 0 < st.st_size <= MAX_CANDIDATE_SIZE:
            return
        try:
            fd, _size = walk.open_file(dir_fd, name, st, path)
        except (SourceError, OSError):
            return  # it is reported, if at all, by the backup itself
        try:
            head = os.read(fd, HEAD_BYTES)
            if not is_candidate(path, st.st_size, head):
                return
            data = head + _read_rest(fd, MAX_CANDIDATE_SIZE + 1 - len(head))
        except OSError:
            return
        finally:
            os.close(fd)
        findings = self.inspect(path, data, st)
        if findings:
            self.add(path, findings)

    def finish(self, now: datetime) -> Inventory:
        """The inventory of everything recorded, linked across files as of ``now``."""
        with self._lock:
            findings = [f for path in sorted(self._found) for f in self._found[path]]
        return Inventory(findings=link(findings, now), created=now)


class HeadCapture:
    """A raw stream wrapper that keeps the first ``limit`` bytes read through it."""

    def __init__(self, stream: object, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._parts: list[bytes] = []
        self._kept = 0

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Read into ``buffer`` (as the wrapped stream does), keeping the start."""
        count: int = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        if count and self._kept < self._limit:
            part = bytes(memoryview(buffer)[: min(count, self._limit - self._kept)])
            self._parts.append(part)
            self._kept += len(part)
        return count

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (as the wrapped stream does), keeping the start."""
        data: bytes = self._stream.read(size)  # type: ignore[attr-defined]
        if data and self._kept < self._limit:
            part = data[: self._limit - self._kept]
            self._parts.append(part)
            self._kept += len(part)
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    @property
    def head(self) -> bytes:
        """What was kept."""
        return b"".join(self._parts)


def _read_rest(fd: int, limit: int) -> bytes:
    parts: list[bytes] = []
    while limit > 0:
        part = os.read(fd, min(limit, 1 << 16))
        if not part:
            break
        parts.append(part)
        limit -= len(part)
    return b"".join(parts)


__all__ = ["HeadCapture", "InventoryRecorder"]
