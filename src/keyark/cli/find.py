"""``keyark find``: search file names across snapshots."""

from __future__ import annotations

from datetime import datetime

import click

from keyark import ops
from keyark.catalog.browse import find
from keyark.cli.render import Output, flag_marker, printable
from keyark.cli.session import browsing
from keyark.cli.settings import global_options, settings_of
from keyark.cli.snapshots import filter_options, make_filter


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
    settings = settings_of(ctx)
    out = Output(settings)
    with browsing(settings, out) as session:
        chosen = ops.snapshots(session.repo, make_filter(hosts, tags, paths), ctx=session.context)
        matches = find(session.load, chosen, pattern)
    if out.json:
        out.emit_json(
            [
                {
                    "snapshot": m.snapshot.id,
                    "trust": m.snapshot.extra.get("trust"),
                    "path": m.path,
                    **m.node.describe(),
                }
                for m in matches
            ]
        )
        return
    rows = [
        (
            m.snapshot.short_id + flag_marker(m.snapshot.extra.get("trust")),
            printable(m.path),
            m.node.type,
            m.node.size,
            datetime.fromtimestamp(m.node.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S"),
        )
        for m in matches
    ]
    out.table(["Snapshot", "Path", "Type", "Size", "Modified"], rows)
    out.print(f"{len(matches)} matches in {len(chosen)} snapshots")
