"""``snapshots``: list the snapshots (with their trust), filtered and newest-N per group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyark.catalog.snapshots import list_snapshots
from keyark.context import OperationContext
from keyark.crypto.agents import TRUSTED
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import Snapshot, SnapshotFilter


@dataclass
class SnapshotsOptions:
    """Which snapshots to list (all by default)."""

    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    #: Only the newest N per host and paths.
    latest: int | None = None


@dataclass
class SnapshotList:
    """Snapshots, oldest first; ``extra["trust"]`` says whether each is trusted."""

    snapshots: list[Snapshot] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"snapshots": [...]}``, each as ``snapshots --json`` shows it."""
        return {"snapshots": [snapshot.describe() for snapshot in self.snapshots]}


@operation("snapshots", options=SnapshotsOptions, result=SnapshotList, mutates=False)
def snapshots(ctx: OperationContext, options: SnapshotsOptions) -> SnapshotList:
    """List the snapshots (each with its trust), oldest first."""
    with opened(ctx) as repo:
        return SnapshotList(list_snapshots(repo, ctx, options.selection, options.latest))


__all__ = [
    "TRUSTED",
    "Snapshot",
    "SnapshotFilter",
    "SnapshotList",
    "SnapshotsOptions",
    "snapshots",
]
