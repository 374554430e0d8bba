"""``keyark diff``: what changed between two snapshots."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output, printable, snapshot_label
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start


@click.command("diff")
@click.argument("first")
@click.argument("second")
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    first: str,
    second: str,
    selection: ops.SnapshotFilter,
) -> None:
    """Show changes from snapshot FIRST to snapshot SECOND.

    Each is an id, a unique id prefix or 'latest' (the newest snapshot matching
    --host/--tag/--path). Names that are not UTF-8 are shown with \\xNN escapes;
    --json adds their exact bytes, base64, as raw_path.
    """
    out, context = start(ctx)
    result = ops.diff(context, ops.DiffOptions(first, second, selection))
    out.show(result, _changes)


def _changes(out: Output, result: ops.DiffResult) -> None:
    """One line per changed path, then the counts."""
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
