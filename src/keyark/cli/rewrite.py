"""``keyark rewrite``: new snapshots without the excluded paths (e.g. a leaked secret)."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.pattern_options import ExcludeFlags, exclude_options
from keyark.cli.render import Output
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start
from keyark.cli.wording import counted


def render_changes(out: Output, changed: int, dry_run: bool) -> None:
    """restic's closing line: how many snapshots were (or would be) modified."""
    if not changed:
        out.print("no snapshots were modified")
    else:
        out.print(f"{'would modify' if dry_run else 'modified'} {counted(changed, 'snapshot')}")


def render(out: Output, result: ops.RewriteResult) -> None:
    """Per snapshot: the paths left out and the new snapshot (restic's lines)."""
    for item in result.snapshots:
        out.print(f"snapshot {item.original[:8]}:")
        for path in item.removed:
            out.print(f"excluding {path}")
        if item.replacement is None:
            out.print("snapshot not modified")
        elif result.dry_run:
            out.print(f"would save new snapshot {item.replacement[:8]}")
        else:
            out.print(f"saved new snapshot {item.replacement[:8]}")
            if item.forgotten:
                out.print(f"removed old snapshot {item.original[:8]}")
        out.print()
    render_changes(out, len(result.changed), result.dry_run)
    if result.dry_run:
        out.print("dry run: nothing was changed")
    elif any(item.forgotten for item in result.snapshots):
        out.print(
            "the excluded data stays in the repository until a prune removes it; "
            "'keyark prune --max-unused 0' removes all of it"
        )


@click.command("rewrite")
@click.argument("snapshot_ids", nargs=-1, metavar="[SNAPSHOT]...")
@exclude_options
@filter_options
@click.option("--all", "all_", is_flag=True, help="Rewrite every snapshot.")
@click.option("--forget", is_flag=True, help="Remove the original snapshots afterwards.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be rewritten; change nothing.")
@click.pass_context
def command(
    ctx: click.Context,
    snapshot_ids: tuple[str, ...],
    excluded: ExcludeFlags,
    selection: ops.SnapshotFilter,
    all_: bool,
    forget: bool,
    dry_run: bool,
) -> None:
    """Write new snapshots without the paths matching the exclude patterns.

    Selects the SNAPSHOT ids given ('latest' honours --host/--tag/--path), else every
    snapshot matching --host/--tag/--path, else, with --all, every snapshot. The new
    snapshots keep time, host, paths and tags and record their original; without
    --forget they are tagged 'rewrite' and the originals stay. To remove a leaked
    secret: rewrite with --forget, then 'prune --max-unused 0' removes its data.
    """
    out, context = start(ctx)
    options = ops.RewriteOptions(
        snapshots=list(snapshot_ids),
        selection=selection,
        all_snapshots=all_,
        exclude=excluded.excludes,
        iexclude=excluded.iexcludes,
        exclude_files=excluded.exclude_files,
        iexclude_files=excluded.iexclude_files,
        forget=forget,
        dry_run=dry_run,
    )
    with out.progress("rewrite", unit="snapshots"):
        result = ops.rewrite(context, options)
    out.show(result, render)
