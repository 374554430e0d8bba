"""``keyark stats``: sizes and ratios."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import human_size
from keyark.cli.settings import global_options
from keyark.cli.snapshots import filter_options, make_filter
from keyark.cli.verb import start


@click.command("stats")
@filter_options
@global_options
@click.pass_context
def command(
    ctx: click.Context, hosts: tuple[str, ...], tags: tuple[str, ...], paths: tuple[str, ...]
) -> None:
    """Show logical and stored size, dedup and compression ratios, blob counts."""
    out, context = start(ctx)
    result = ops.stats(context, ops.StatsOptions(make_filter(hosts, tags, paths)))
    if out.json:
        out.emit_json(result.to_dict())
        return
    out.table(
        ["", "Value"],
        [
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
