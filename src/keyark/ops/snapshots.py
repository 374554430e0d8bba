"""``snapshots``: list the snapshots (with their trust), filtered and newest-N per group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from keyark.catalog.snapshots import list_snapshots
from keyark.context import OperationContext
from keyark.crypto.agents import TRUSTED as TRUSTED
from keyark.maintenance.retention import group_snapshots, parse_group_by
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import Snapshot as Snapshot
from keyark.repo.snapshot import SnapshotFilter as SnapshotFilter


@dataclass
class SnapshotsOptions:
    """Which snapshots to list (all by default), and how to group them.

    ``group_by`` is any of ``host``, ``paths`` and ``tags`` (restic's ``--group-by``);
    ``latest`` then keeps the newest N of each group (without it: per host and paths).
    """

    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    #: Only the newest N per host and paths (per group with ``group_by``).
    latest: int | None = None
    group_by: Sequence[str] = ()


@dataclass
class SnapshotGroup:
    """Snapshots that share the grouped fields (``key``: host, paths and/or tags)."""

    key: dict[str, Any]
    snapshots: list[Snapshot] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """restic's shape: ``{"group_key": {"hostname", "paths", "tags"}, "snapshots"}``
        (a field not grouped by is null)."""
        return {
            "group_key": {
                "hostname": self.key.get("host"),
                "paths": self.key.get("paths"),
                "tags": self.key.get("tags"),
            },
            "snapshots": [snapshot.describe() for snapshot in self.snapshots],
        }


@dataclass
class SnapshotList:
    """Snapshots, oldest first; ``extra["trust"]`` says whether each is trusted.

    With grouping, ``groups`` holds them by group too (``snapshots`` is all of them).
    """

    snapshots: list[Snapshot] = field(default_factory=list)
    groups: list[SnapshotGroup] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"snapshots": [...]}``, each as ``snapshots --json`` shows it (and
        ``"groups"`` when grouped)."""
        document: dict[str, Any] = {
            "snapshots": [snapshot.describe() for snapshot in self.snapshots]
        }
        if self.groups is not None:
            document["groups"] = [group.to_dict() for group in self.groups]
        return document


@operation("snapshots", options=SnapshotsOptions, result=SnapshotList, mutates=False)
def snapshots(ctx: OperationContext, options: SnapshotsOptions) -> SnapshotList:
    """List the snapshots (each with its trust), oldest first."""
    group_by = parse_group_by(",".join(options.group_by))
    with opened(ctx) as repo:
        if not group_by:
            return SnapshotList(list_snapshots(repo, ctx, options.selection, options.latest))
        found = list_snapshots(repo, ctx, options.selection)
    groups = [
        SnapshotGroup(key, members[-options.latest :] if options.latest else members)
        for key, members in group_snapshots(found, group_by)
    ]
    kept = {s.id for group in groups for s in group.snapshots}
    return SnapshotList([s for s in found if s.id in kept], groups)
