"""``keyark find``: search file names across snapshots."""

from __future__ import annotations

from datetime import datetime

import click

from keyark import ops
from keyark.cli.render import flag_marker, printable
from keyark.cli.settings import global_options
from keyark.cli.snapshots import filter_options, make_filter
from keyark.cli.verb import start


@click.command("find")
@click.argument("pattern")
@filter_options
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    pattern: str,
    hosts: tuple[str, ...],
    tags: tuple[str, ...],
    paths: tuple[str, ...],
) -> None:
    """Find entries whose name matches PATTERN (a glob; with '/', the full path)."""
    out, context = start(ctx)
    result = ops.find(context, ops.FindOptions(pattern, make_filter(hosts, tags, paths)))
    if out.json:
        out.emit_json([match.to_dict() for match in result.matches])
        return
    rows = [
        (
            m.snapshot.short_id + flag_marker(m.snapshot.extra.get("trust")),
            printable(m.path),
            m.node.type,
            m.node.size,
            datetime.fromtimestamp(m.node.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S"),
        )
        for m in result.matches
    ]
    out.table(["Snapshot", "Path", "Type", "Size", "Modified"], rows)
    out.print(f"{len(result.matches)} matches in {result.snapshots} snapshots")
