"""``keyark diff``: what changed between two snapshots."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import printable, snapshot_label
from keyark.cli.settings import global_options
from keyark.cli.snapshots import filter_options, make_filter
from keyark.cli.verb import start


@click.command("diff")
@click.argument("first")
@click.argument("second")
@filter_options
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    first: str,
    second: str,
    hosts: tuple[str, ...],
    tags: tuple[str, ...],
    paths: tuple[str, ...],
) -> None:
    """Show changes from snapshot FIRST to snapshot SECOND.

    Each is an id, a unique id prefix or 'latest' (the newest snapshot matching
    --host/--tag/--path). Names that are not UTF-8 are shown with \\xNN escapes;
    --json adds their exact bytes, base64, as raw_path.
    """
    out, context = start(ctx)
    result = ops.diff(context, ops.DiffOptions(first, second, make_filter(hosts, tags, paths)))
    if out.json:
        out.emit_json(result.to_dict())
        return
    out.print(
        f"comparing snapshot {snapshot_label(result.first)} to {snapshot_label(result.second)}:"
    )
    for change in result.changes:
        out.result(f"{change.code:<2} {printable(change.path)}")
    counts = result.counts()
    out.result(
        f"added {counts['+']}, removed {counts['-']}, modified {counts['M']}, "
        f"type changed {counts['T']}, metadata changed {counts['U']}"
    )
