"""``keyark diff``: what changed between two snapshots."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import printable, snapshot_label
from keyark.cli.settings import global_options
from keyark.cli.verb import start


@click.command("diff")
@click.argument("first")
@click.argument("second")
@global_options
@click.pass_context
def command(ctx: click.Context, first: str, second: str) -> None:
    """Show changes from snapshot FIRST to snapshot SECOND."""
    out, context = start(ctx)
    result = ops.diff(context, ops.DiffOptions(first, second))
    if out.json:
        out.emit_json(result.to_dict())
        return
    out.print(
        f"comparing snapshot {snapshot_label(result.first)} to {snapshot_label(result.second)}:"
    )
    for change in result.changes:
        out.print(f"{change.code:<2} {printable(change.path)}")
    counts = result.counts()
    out.print(
        f"added {counts['+']}, removed {counts['-']}, modified {counts['M']}, "
        f"type changed {counts['T']}, metadata changed {counts['U']}"
    )
