"""``keyark stats``: sizes and ratios."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import human_size
from keyark.cli.settings import global_options
from keyark.cli.snapshots import filter_options, make_filter
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
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    snapshots: tuple[str, ...],
    mode: str,
    hosts: tuple[str, ...],
    tags: tuple[str, ...],
    paths: tuple[str, ...],
) -> None:
    """Show sizes and ratios of SNAPSHOTs (ids or 'latest'; default: all matching)."""
    out, context = start(ctx)
    options = ops.StatsOptions(make_filter(hosts, tags, paths), list(snapshots), mode)
    result = ops.stats(context, options)
    if out.json:
        out.emit_json(result.to_dict())
        return
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
