"""``stats``: logical and stored size, dedup and compression ratios, blob counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.catalog.snapshots import browsing, list_snapshots
from keyark.context import OperationContext
from keyark.maintenance.stats import RepoStats
from keyark.maintenance.stats import stats as run_stats
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import SnapshotFilter


@dataclass
class StatsOptions:
    """Which snapshots to count (all by default)."""

    selection: SnapshotFilter = field(default_factory=SnapshotFilter)


@operation("stats", options=StatsOptions, result=RepoStats, mutates=False)
def stats(ctx: OperationContext, options: StatsOptions) -> RepoStats:
    """Show logical and stored size, dedup and compression ratios, blob counts."""
    with opened(ctx) as repo:
        chosen = list_snapshots(repo, ctx, options.selection)
        with browsing(repo, ctx) as load:
            return run_stats(repo, chosen, load, ctx.cancel)


__all__ = ["RepoStats", "StatsOptions", "stats"]
