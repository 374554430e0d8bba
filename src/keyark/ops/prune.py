"""``prune``: remove data no snapshot uses."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.maintenance.prune import PruneOptions as PruneOptions
from keyark.maintenance.prune import PrunePlan as PrunePlan
from keyark.maintenance.prune import PruneSummary as PruneSummary
from keyark.maintenance.prune import prune as run_prune
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.units import UnusedLimit as UnusedLimit
from keyark.units import parse_size as parse_size
from keyark.units import parse_unused_limit as parse_unused_limit


@operation("prune", options=PruneOptions, result=PruneSummary, mutates=True)
def prune(ctx: OperationContext, options: PruneOptions) -> PruneSummary:
    """Remove unused data: delete unused packs, repack partly used ones."""
    with opened(ctx) as repo:
        return run_prune(repo, options, ctx)
