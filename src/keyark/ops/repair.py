"""The repair operations: index, packs, snapshots, config and keyring."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.maintenance.repair import RepairSummary as RepairSummary
from keyark.maintenance.repair import repair_index as run_repair_index
from keyark.maintenance.repair_packs import RepairPacksSummary as RepairPacksSummary
from keyark.maintenance.repair_packs import repair_packs as run_repair_packs
from keyark.maintenance.repair_snapshots import RepairedSnapshot as RepairedSnapshot
from keyark.maintenance.repair_snapshots import RepairSnapshotsOptions as RepairSnapshotsOptions
from keyark.maintenance.repair_snapshots import RepairSnapshotsSummary as RepairSnapshotsSummary
from keyark.maintenance.repair_snapshots import repair_snapshots as run_repair_snapshots
from keyark.maintenance.repair_state import RepairStateSummary as RepairStateSummary
from keyark.maintenance.repair_state import repair_state
from keyark.ops.catalogue import operation
from keyark.ops.session import opened


@dataclass
class RepairIndexOptions:
    """``repair index`` has no options: it proves every pack."""


@dataclass
class RepairPacksOptions:
    """The packs to salvage and unindex: full ids or unique prefixes."""

    packs: list[str] = field(default_factory=list)


@dataclass
class RepairStateOptions:
    """``repair config`` / ``repair keyring`` have no options: all four objects are checked."""


@operation("repair index", options=RepairIndexOptions, result=RepairSummary, mutates=True)
def repair_index(ctx: OperationContext, options: RepairIndexOptions) -> RepairSummary:
    """Rebuild the index from the packs, salvaging what damaged packs still hold."""
    with opened(ctx) as repo:
        return run_repair_index(repo, ctx)


@operation("repair packs", options=RepairPacksOptions, result=RepairPacksSummary, mutates=True)
def repair_packs(ctx: OperationContext, options: RepairPacksOptions) -> RepairPacksSummary:
    """Salvage the readable blobs of the named packs into new packs, then unindex them."""
    if not options.packs:
        raise UsageError("name at least one pack to repair (nothing was changed)")
    with opened(ctx) as repo:
        return run_repair_packs(repo, list(options.packs), ctx)


@operation(
    "repair snapshots",
    options=RepairSnapshotsOptions,
    result=RepairSnapshotsSummary,
    mutates=True,
)
def repair_snapshots(
    ctx: OperationContext, options: RepairSnapshotsOptions
) -> RepairSnapshotsSummary:
    """Rewrite damaged snapshots, replacing lost files and directories with empty markers."""
    with opened(ctx) as repo:
        return run_repair_snapshots(repo, options, ctx)


def _repair_state(ctx: OperationContext) -> RepairStateSummary:
    with opened(ctx) as repo:
        return repair_state(repo, ctx)


@operation("repair config", options=RepairStateOptions, result=RepairStateSummary, mutates=True)
def repair_config(ctx: OperationContext, options: RepairStateOptions) -> RepairStateSummary:
    """Rewrite a damaged config (or its copy) from the verified one (the keyring too)."""
    return _repair_state(ctx)


@operation("repair keyring", options=RepairStateOptions, result=RepairStateSummary, mutates=True)
def repair_keyring(ctx: OperationContext, options: RepairStateOptions) -> RepairStateSummary:
    """Rewrite a damaged keyring (or its copy) from the verified one (the config too)."""
    return _repair_state(ctx)
