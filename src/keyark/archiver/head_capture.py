"""Keeping the first bytes of a file while the backup streams it (no second read)."""

from __future__ import annotations

import os


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


def read_rest(fd: int, limit: int) -> bytes:
    """Up to ``limit`` more bytes of the open file ``fd`` (fewer at its end)."""
    parts: list[bytes] = []
    while limit > 0:
        part = os.read(fd, min(limit, 1 << 16))
        if not part:
            break
        parts.append(part)
        limit -= len(part)
    return b"".join(parts)


__all__ = ["HeadCapture", "read_rest"]
