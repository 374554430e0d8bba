"""``keyark diff``: what changed between two snapshots."""

from __future__ import annotations

import click

from keyark import ops
from keyark.catalog.browse import diff
from keyark.cli.render import Output, printable, snapshot_label
from keyark.cli.session import browsing
from keyark.cli.settings import global_options, settings_of


@click.command("diff")
@click.argument("first")
@click.argument("second")
@global_options
@click.pass_context
def command(ctx: click.Context, first: str, second: str) -> None:
    """Show changes from snapshot FIRST to snapshot SECOND."""
    settings = settings_of(ctx)
    out = Output(settings)
    with browsing(settings, out) as session:
        a = ops.find_snapshot(session.repo, first, ctx=session.context)
        b = ops.find_snapshot(session.repo, second, ctx=session.context)
        changes = list(diff(session.load, a.tree, b.tree))
    if out.json:
        out.emit_json(
            {
                "from": a.id,
                "to": b.id,
                "from_trust": a.extra.get("trust"),
                "to_trust": b.extra.get("trust"),
                "changes": [{"modifier": c.code, "path": c.path} for c in changes],
            }
        )
        return
    out.print(f"comparing snapshot {snapshot_label(a)} to {snapshot_label(b)}:")
    for change in changes:
        out.print(f"{change.code:<2} {printable(change.path)}")
    counts = {code: sum(1 for c in changes if c.code == code) for code in "+-MTU"}
    out.print(
        f"added {counts['+']}, removed {counts['-']}, modified {counts['M']}, "
        f"type changed {counts['T']}, metadata changed {counts['U']}"
    )
