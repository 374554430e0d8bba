"""Words for human output: counts (``1 snapshot``, ``2 snapshots``) and file times."""

from __future__ import annotations

from datetime import UTC, datetime

from keyark.cli.render import local_time

#: Plurals that do not just add ``s``.
_IRREGULAR = {
    "entry": "entries",
    "match": "matches",
    "index": "indexes",
    "directory": "directories",
}


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, the noun agreeing in number (``1 file``, ``0 files``).

    ``plural`` overrides the plural form; a few irregular ones are known.
    """
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {plural or _IRREGULAR.get(noun, noun + 's')}"


def file_time(ns: int) -> str:
    """A file's time (ns since the epoch) as ``snapshots`` shows times: local, with the zone."""
    return local_time(datetime.fromtimestamp(ns / 1e9, UTC))


__all__ = ["counted", "file_time"]
