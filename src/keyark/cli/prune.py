"""``keyark prune``: remove data no snapshot uses."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output, human_size
from keyark.cli.settings import settings_of
from keyark.cli.wording import counted


def prune_options(max_unused: str, max_repack_size: str | None, dry_run: bool) -> ops.PruneOptions:
    """Parse the prune flags (shared with ``forget --prune``); bad values are UsageErrors."""
    return ops.PruneOptions(
        max_unused=ops.parse_unused_limit(max_unused, "--max-unused"),
        max_repack_size=(
            ops.parse_size(max_repack_size, "--max-repack-size")
            if max_repack_size is not None
            else None
        ),
        dry_run=dry_run,
    )


def render_prune(out: Output, summary: ops.PruneSummary) -> None:
    """The plan, then what was done (or would be, on a dry run)."""
    plan = summary.plan
    out.print(
        f"{counted(plan.snapshots, 'snapshot')} {'uses' if plan.snapshots == 1 else 'use'} "
        f"{counted(plan.used_blobs, 'blob')} ({human_size(plan.used_bytes)}); "
        f"{counted(plan.unused_blobs, 'blob')} ({human_size(plan.unused_bytes)}) "
        f"{'is' if plan.unused_blobs == 1 else 'are'} unused"
    )
    out.print(
        f"to delete: {counted(len(plan.delete), 'unused pack')} "
        f"({human_size(plan.size_of(plan.delete))}), "
        f"{counted(len(plan.orphans), 'unindexed pack')} "
        f"({human_size(sum(plan.orphans.values()))})"
    )
    out.print(
        f"to repack: {counted(len(plan.repack), 'pack')} "
        f"({human_size(plan.size_of(plan.repack))}), "
        f"copying {human_size(plan.repack_used_bytes)} of used blobs"
    )
    out.print(
        f"to keep:   {counted(len(plan.keep), 'pack')}; "
        f"unused space left: {human_size(plan.unused_after)}"
    )
    if summary.dry_run:
        out.print(f"dry run: nothing was changed; would free {human_size(plan.estimated_freed())}")
    elif plan.nothing_to_do and plan.unused_bytes:
        out.print(
            f"nothing to prune: the {human_size(plan.unused_bytes)} unused (duplicate or "
            "partly used packs) are within --max-unused; '--max-unused 0' removes them"
        )
    elif plan.nothing_to_do:
        out.print("nothing to prune")
    else:
        out.print(
            f"deleted {counted(summary.packs_deleted, 'pack')}, "
            f"wrote {summary.packs_written} ({counted(summary.blobs_repacked, 'blob')} "
            f"repacked), rewrote the index "
            f"({counted(summary.index_files_written, 'file')} written, "
            f"{summary.index_files_deleted} removed); freed {human_size(summary.bytes_freed)}"
        )
    if summary.temporaries_deleted:
        out.print(
            f"removed {counted(summary.temporaries_deleted, 'stale temporary object')} "
            f"({human_size(summary.temporary_bytes_deleted)}) left by interrupted writes"
        )


def unused_option(func: click.decorators.FC) -> click.decorators.FC:
    """``--max-unused`` and ``--max-repack-size`` (shared with ``forget``)."""
    func = click.option(
        "--max-repack-size",
        metavar="SIZE",
        help="Repack at most SIZE of packs (e.g. 500M, 2G).",
    )(func)
    func = click.option(
        "--max-unused",
        metavar="LIMIT",
        default="5%",
        show_default=True,
        help="Unused space to tolerate: N%, a size (100M) or 'unlimited'.",
    )(func)
    return func


@click.command("prune")
@unused_option
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.pass_context
def command(
    ctx: click.Context, max_unused: str, max_repack_size: str | None, dry_run: bool
) -> None:
    """Remove unused data: delete unused packs, repack partly used ones."""
    settings = settings_of(ctx)
    out = Output(settings)
    options = prune_options(max_unused, max_repack_size, dry_run)
    context = settings.operation_context(out.event)
    with out.progress("prune", unit="objects"):
        summary = ops.prune(context, options)
    out.show(summary, render_prune)
    summary.raise_for_failures()
