"""Restore points in a repository: listing, choosing one, and their own retention.

Only full-key snapshots count as restore points: a rollback writes their entries
and removes the entries their record lists, so one an agent wrote (or a forged
document) is never used. Retention groups restore points by host and target:
``keep_last`` keeps the newest N of each group, ``older_than`` removes those older
than a duration; both together remove what either removes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keyark.crypto.agents import FULL_KEY
from keyark.crypto.keyring import Keyring
from keyark.errors import Hint, RestorePointNotFoundError, UsageError
from keyark.repo.snapshot import Snapshot, select_snapshot
from keyark.repo.snapshot_trust import is_agent_snapshot, snapshot_trust
from keyark.restorer.restore_point import TAG, RestorePointRecord


@dataclass
class RestorePoint:
    """A restore point: its snapshot and its record."""

    snapshot: Snapshot
    record: RestorePointRecord

    def to_dict(self) -> dict[str, Any]:
        """The JSON view ``restore-points list`` shows."""
        s = self.snapshot
        return {
            "id": s.id,
            "short_id": s.short_id,
            "time": s.time.isoformat(),
            "host": s.host,
            "username": s.username,
            "target": self.record.target,
            "restored_snapshot": self.record.snapshot,
            "subpath": self.record.subpath,
            "created": len(self.record.created),
            "files_saved": s.summary.get("files_new", 0),
        }


def restore_points(snapshots: Iterable[Snapshot], keyring: Keyring) -> list[RestorePoint]:
    """The full-key restore points among ``snapshots``, oldest first."""
    found = []
    for snapshot in snapshots:
        if TAG not in snapshot.tags or is_agent_snapshot(snapshot):
            continue
        record = RestorePointRecord.of(snapshot)
        if record is None or snapshot_trust(keyring, snapshot) != FULL_KEY:
            continue
        found.append(RestorePoint(snapshot, record))
    return sorted(found, key=lambda p: (p.snapshot.time, p.snapshot.id))


def matching(
    points: Iterable[RestorePoint], target: str | None, host: str | None
) -> list[RestorePoint]:
    """The points of ``target`` (compared as absolute paths) and ``host`` (None: any)."""
    wanted = None if target is None else os.path.abspath(target)
    return [
        p
        for p in points
        if (wanted is None or p.record.target == wanted)
        and (host is None or p.snapshot.host == host)
    ]


def choose(
    points: list[RestorePoint], ref: str | None, target: str | None, host: str | None
) -> RestorePoint:
    """The point ``ref`` names (an id or prefix), else the newest for ``target`` on ``host``."""
    if ref is not None:
        chosen = select_snapshot([p.snapshot for p in points], ref)
        return next(p for p in points if p.snapshot.id == chosen.id)
    if target is None:
        raise UsageError("name a restore point, or the target whose newest restore point to use")
    candidates = matching(points, target, host)
    if not candidates:
        raise RestorePointNotFoundError(
            f"no restore point for target {os.path.abspath(target)}"
            + (f" on host {host}" if host else ""),
            hint=Hint.LIST_RESTORE_POINTS,
        )
    return candidates[-1]


def expired(
    points: list[RestorePoint],
    keep_last: int | None,
    older_than: timedelta | None,
    now: datetime,
) -> list[RestorePoint]:
    """The points the retention removes (``points`` oldest first)."""
    if keep_last is None and older_than is None:
        raise UsageError("give how many restore points to keep, or how old ones to remove")
    if keep_last is not None and keep_last < 0:
        raise UsageError("the number of restore points to keep cannot be negative")
    groups: dict[tuple[str, str], list[RestorePoint]] = {}
    for point in points:
        groups.setdefault((point.snapshot.host, point.record.target), []).append(point)
    doomed: list[RestorePoint] = []
    for members in groups.values():
        cut = len(members) - keep_last if keep_last is not None else 0
        for index, point in enumerate(members):
            too_many = index < cut
            too_old = older_than is not None and now - point.snapshot.time > older_than
            if too_many or too_old:
                doomed.append(point)
    return sorted(doomed, key=lambda p: (p.snapshot.time, p.snapshot.id))


__all__ = ["RestorePoint", "choose", "expired", "matching", "restore_points"]
