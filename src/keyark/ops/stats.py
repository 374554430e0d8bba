"""``stats``: logical and stored size, dedup and compression ratios, blob counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.catalog.snapshots import browsing, choose_snapshots
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.maintenance.stats import RESTORE_SIZE
from keyark.maintenance.stats import STATS_MODES as STATS_MODES
from keyark.maintenance.stats import RepoStats as RepoStats
from keyark.maintenance.stats import stats as run_stats
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import SnapshotFilter


@dataclass
class StatsOptions:
    """Which snapshots to count (all ``selection`` matches, or the ``snapshots`` named:
    ids, prefixes or ``latest``), and restic's counting ``mode`` (``restore-size``,
    ``files-by-contents``, ``blobs-per-file`` or ``raw-data``)."""

    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    snapshots: list[str] = field(default_factory=list)
    mode: str = RESTORE_SIZE


@operation("stats", options=StatsOptions, result=RepoStats, mutates=False)
def stats(ctx: OperationContext, options: StatsOptions) -> RepoStats:
    """Show logical and stored size, dedup and compression ratios, blob counts."""
    if options.mode not in STATS_MODES:
        raise UsageError(f"stats mode {options.mode!r} is not one of {', '.join(STATS_MODES)}")
    with opened(ctx) as repo:
        chosen = choose_snapshots(repo, ctx, options.snapshots, options.selection)
        with browsing(repo, ctx) as load:
            return run_stats(repo, chosen, load, ctx.cancel, options.mode)
