"""``keyark stats``: sizes and ratios."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output, human_size
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start


@click.command("stats")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.option(
    "--mode",
    type=click.Choice(ops.STATS_MODES),
    default=ops.STATS_MODES[0],
    show_default=True,
    help="What the totals count (restic's modes): each snapshot as restored, files with "
    "distinct contents, the data blobs of each such file, or the distinct blobs as stored.",
)
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    snapshots: tuple[str, ...],
    mode: str,
    selection: ops.SnapshotFilter,
) -> None:
    """Show sizes and ratios of SNAPSHOTs (ids or 'latest'; default: all matching)."""
    out, context = start(ctx)
    options = ops.StatsOptions(selection, list(snapshots), mode)
    result = ops.stats(context, options)
    out.show(result, _stats)


def _stats(out: Output, result: ops.RepoStats) -> None:
    """The totals of the stats mode, then the repository's sizes and ratios."""
    totals: list[tuple[str, object]] = [("Stats mode", result.mode)]
    if result.mode == "raw-data":
        totals += [
            ("Total blob count", result.total_blob_count),
            ("Total size (stored)", human_size(result.total_size)),
            ("Total uncompressed size", human_size(result.total_uncompressed_size)),
        ]
    elif result.mode == "blobs-per-file":
        totals += [
            ("Total blob count", result.total_blob_count),
            ("Total file count", result.total_file_count),
            ("Total size", human_size(result.total_size)),
        ]
    else:
        totals += [
            ("Total file count", result.total_file_count),
            ("Total size", human_size(result.total_size)),
        ]
    out.table(
        ["", "Value"],
        [
            *totals,
            ("Snapshots", result.snapshots),
            ("Files (all snapshots)", result.files),
            ("Logical size", human_size(result.logical_size)),
            ("Unique data", human_size(result.unique_size)),
            ("Stored data blobs", human_size(result.stored_blob_size)),
            ("Repository packs", f"{result.packs} ({human_size(result.repository_size)})"),
            ("Dedup ratio", f"{result.dedup_ratio:.2f}x"),
            ("Compression ratio", f"{result.compression_ratio:.2f}x"),
            ("Data blobs", result.data_blobs),
            ("Tree blobs", result.tree_blobs),
        ],
    )
