"""``inventory``, ``inventory_diff``, ``inventory_build``: the key material of snapshots.

A backup records the inventory sealed in its snapshot; ``inventory_build`` computes
it afterwards for a snapshot saved without one (stored beside it, see
:mod:`keyark.repo.inventory`). Listings judge expiry as of now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from keyark.catalog.inventories import build_inventory, sidecars, stored_inventory
from keyark.catalog.snapshots import browsing, find_snapshot
from keyark.context import OperationContext
from keyark.errors import Hint, UsageError
from keyark.errors import InventoryMissingError as InventoryMissingError
from keyark.events import Code
from keyark.inventory.compare import InventoryChanges as InventoryChanges
from keyark.inventory.compare import compare
from keyark.inventory.model import Finding as Finding
from keyark.inventory.model import link
from keyark.inventory.query import FindingQuery, parse_kinds
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import Snapshot, SnapshotFilter, now
from keyark.units import parse_seconds


def _selection(host: str | None, tags: list[str], paths: list[str]) -> SnapshotFilter:
    return SnapshotFilter(hosts=[host] if host else [], tags=list(tags), paths=list(paths))


@dataclass(frozen=True)
class InventoryOptions:
    """Which snapshot (id, prefix or ``latest`` narrowed by host, tags and paths) and
    which of its findings: ``kinds`` (kinds or short names such as ``cert``, ``key``),
    ``expiring`` (a duration such as ``30d``: those expiring within it, or expired),
    ``weak`` (weak algorithms, secrets readable by group or others)."""

    snapshot: str = "latest"
    host: str | None = None
    tags: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    expiring: str | None = None
    weak: bool = False

    def query(self) -> FindingQuery:
        """The finding selection these options ask for (UsageError when malformed)."""
        window = None
        if self.expiring is not None:
            window = timedelta(seconds=parse_seconds(self.expiring, "expiring"))
        return FindingQuery(parse_kinds(self.kinds), window, self.weak)


@dataclass
class InventoryResult:
    """The selected findings of one snapshot; ``built`` False: it has no inventory."""

    snapshot_id: str
    findings: list[Finding] = field(default_factory=list)
    built: bool = False
    #: ``snapshot`` (recorded by the backup), ``sidecar`` (built later) or None.
    source: str | None = None
    snapshot: Snapshot | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "snapshot": None if self.snapshot is None else self.snapshot.describe(),
            "built": self.built,
            "source": self.source,
            "findings": [f.to_dict() for f in self.findings],
        }


@operation("inventory", options=InventoryOptions, result=InventoryResult, mutates=False)
def inventory(ctx: OperationContext, options: InventoryOptions) -> InventoryResult:
    """List the key material a snapshot holds (its key and certificate inventory)."""
    query = options.query()
    selection = _selection(options.host, options.tags, options.paths)
    with opened(ctx) as repo:
        chosen = find_snapshot(repo, options.snapshot, ctx, selection)
        stored = stored_inventory(repo, chosen)
    result = InventoryResult(chosen.id, snapshot=stored.snapshot, source=stored.source)
    if stored.inventory is not None:
        moment = now()
        result.built = True
        result.findings = query.select(link(stored.inventory.findings, moment), moment)
    return result


@dataclass(frozen=True)
class InventoryDiffOptions:
    """The two snapshots to compare (``first`` the older; ids, prefixes or ``latest``)."""

    first: str
    second: str
    host: str | None = None
    tags: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@dataclass
class InventoryDiffResult:
    """What key material changed from snapshot ``first`` to ``second``."""

    first: Snapshot
    second: Snapshot
    changes: InventoryChanges

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.first.id, "to": self.second.id, **self.changes.to_dict()}


@operation(
    "inventory_diff", options=InventoryDiffOptions, result=InventoryDiffResult, mutates=False
)
def inventory_diff(ctx: OperationContext, options: InventoryDiffOptions) -> InventoryDiffResult:
    """Show what key material changed between two snapshots."""
    selection = _selection(options.host, options.tags, options.paths)
    with opened(ctx) as repo:
        pair = []
        for ref in (options.first, options.second):
            stored = stored_inventory(repo, find_snapshot(repo, ref, ctx, selection))
            if stored.inventory is None:
                raise InventoryMissingError(
                    f"snapshot {stored.snapshot.short_id} has no key and certificate inventory",
                    hint=Hint.INVENTORY_BUILD,
                )
            pair.append(stored)
    first, second = pair
    assert first.inventory is not None and second.inventory is not None
    changes = compare(first.inventory.findings, second.inventory.findings)
    return InventoryDiffResult(first.snapshot, second.snapshot, changes)


@dataclass(frozen=True)
class InventoryBuildOptions:
    """The snapshots (ids, prefixes or ``latest``) whose inventory to compute and store.

    A snapshot whose backup recorded one is left alone; one built before is built
    again.
    """

    snapshots: list[str] = field(default_factory=list)


@dataclass
class InventoryBuildResult:
    """Per snapshot id: how many findings were stored (None: it has its own)."""

    built: dict[str, int | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"built": dict(self.built)}


@operation(
    "inventory_build",
    options=InventoryBuildOptions,
    result=InventoryBuildResult,
    mutates=True,
    reads_secrets=True,
)
def inventory_build(ctx: OperationContext, options: InventoryBuildOptions) -> InventoryBuildResult:
    """Compute and store the inventory of snapshots saved without one."""
    if not options.snapshots:
        raise UsageError("name the snapshots to build an inventory for (ids or 'latest')")
    result = InventoryBuildResult()
    with opened(ctx) as repo, repo.lock("inventory", retry=ctx.lock_wait):
        repo.blobs.load_index()
        chosen = {s.id: s for s in (find_snapshot(repo, ref, ctx) for ref in options.snapshots)}
        with browsing(repo, ctx) as load:
            for number, snapshot in enumerate(chosen.values(), 1):
                stored = repo.snapshots.load(snapshot.id)
                if stored.inventory is not None:
                    result.built[snapshot.id] = None
                    ctx.events.warn(
                        Code.INVENTORY,
                        f"snapshot {snapshot.short_id} has the inventory its backup recorded; "
                        "left alone",
                        subject=snapshot.id,
                    )
                    continue
                built = build_inventory(repo, stored, load, ctx.cancel)
                sidecars(repo).save(snapshot.id, built)
                result.built[snapshot.id] = len(built.findings)
                ctx.events.progress(
                    "inventory", files_done=number, files_total=len(chosen), current=snapshot.id
                )
    return result
