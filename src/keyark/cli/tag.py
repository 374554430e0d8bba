"""``keyark tag``: set, add or remove the tags of snapshots."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.rewrite import render_changes
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start


@click.command("tag")
@click.argument("snapshot_ids", nargs=-1, metavar="[SNAPSHOT]...")
@click.option("--set", "set_tags", multiple=True, metavar="TAG[,TAG]", help="Replace the tags.")
@click.option("--add", "add", multiple=True, metavar="TAG[,TAG]", help="Add tags.")
@click.option("--remove", "remove", multiple=True, metavar="TAG[,TAG]", help="Remove tags.")
@filter_options
@click.option("--all", "all_", is_flag=True, help="Change every snapshot.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.pass_context
def command(
    ctx: click.Context,
    snapshot_ids: tuple[str, ...],
    set_tags: tuple[str, ...],
    add: tuple[str, ...],
    remove: tuple[str, ...],
    selection: ops.SnapshotFilter,
    all_: bool,
    dry_run: bool,
) -> None:
    """Set (--set), add (--add) or remove (--remove) tags of snapshots.

    Selects the SNAPSHOT ids given ('latest' honours --host/--tag/--path), else every
    snapshot matching --host/--tag/--path, else, with --all, every snapshot. A
    snapshot whose tags change is replaced by a new one recording its original.
    --set '' removes every tag.
    """
    out, context = start(ctx)
    options = ops.TagOptions(
        snapshots=list(snapshot_ids),
        selection=selection,
        all_snapshots=all_,
        set_tags=list(set_tags) if set_tags else None,
        add=list(add),
        remove=list(remove),
        dry_run=dry_run,
    )
    with out.progress("tag", unit="snapshots"):
        result = ops.tag(context, options)
    out.show(result, _retagged)


def _retagged(out: Output, result: ops.TagResult) -> None:
    """Each snapshot's tags before and after, then restic's closing line."""
    for item in result.changed:
        verb = "would be replaced" if result.dry_run else "replaced"
        out.print(
            f"snapshot {item.original[:8]}: tags [{','.join(item.old_tags)}] -> "
            f"[{','.join(item.new_tags)}]; {verb} by {(item.replacement or '')[:8]}"
        )
    render_changes(out, len(result.changed), result.dry_run)
