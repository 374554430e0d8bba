"""Directory names of the mount: snapshot times (unique), hosts and tags made safe."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from keyark.repo.snapshot import Snapshot

#: The name of the link to the newest snapshot in each listing directory.
LATEST = "latest"


def time_name(moment: datetime) -> str:
    """restic's directory name of a snapshot: its time to the second, RFC 3339 in UTC
    (``2026-12-02T05:33:22+00:00``); a time without a zone counts as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def unique_time_names(snapshots: Iterable[Snapshot]) -> dict[str, str]:
    """Snapshot id -> its time name, unique over ``snapshots``: in order of time (then id),
    the first of a second keeps the plain name, later ones get ``-1``, ``-2``, ... (restic's
    rule). The same snapshot has the same name in every listing directory."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for snapshot in sorted(snapshots, key=lambda s: (s.time, s.id)):
        base = time_name(snapshot.time)
        name, number = base, 0
        while name in taken or name == LATEST:
            number += 1
            name = f"{base}-{number}"
        taken.add(name)
        names[snapshot.id] = name
    return names


def component(text: str) -> str:
    """``text`` as one directory name: ``/`` and NUL become ``_``; an empty name, ``.``
    and ``..`` become ``_`` too (a host or tag never escapes its listing directory)."""
    safe = text.replace("/", "_").replace("\0", "_")
    return "_" if safe in ("", ".", "..") else safe


__all__ = ["LATEST", "component", "time_name", "unique_time_names"]
