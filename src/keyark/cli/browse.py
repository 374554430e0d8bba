"""``keyark browse``: pick a snapshot, browse and search it, mark files, restore them."""

from __future__ import annotations

import sys

import click

from keyark import ops
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start
from keyark.errors import UsageError


@click.command("browse")
@click.option("--target", default="", metavar="DIR", help="Suggest DIR as the restore target.")
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    target: str,
    selection: ops.SnapshotFilter,
) -> None:
    """Browse snapshots in the terminal and restore marked files (keyboard only).

    `keyark restore --interactive` opens the same browser.

    Pick a snapshot (Enter; / filters by host, tag or path), browse its tree (Enter opens
    a directory, Backspace goes up, / searches names), mark files and directories with
    Space, then R: enter the target, Ctrl+O changes the overwrite mode, Ctrl+P shows
    what would be overwritten, Ctrl+R restores (verified). Fits an 80x24 terminal.
    """
    run_browser(ctx, target, selection)


def run_browser(ctx: click.Context, target: str, selection: ops.SnapshotFilter) -> None:
    """Run the terminal browser over this invocation's repository (``restore --interactive``
    calls it too); print what was restored once the screen is gone."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the interactive browser needs a terminal; use ls, find and restore")
    from keyark.tui.app import BrowseApp
    from keyark.tui.session import BrowseSession

    out, context = start(ctx)
    if context.agent_credential is None:
        context.resolve_credentials()  # a passphrase prompt comes before the screen
    app = BrowseApp(BrowseSession(context, selection), target=target)
    app.run()
    summary = app.restored
    if summary is not None:
        out.print(
            f"restored {summary.files_restored} file(s) of snapshot {summary.snapshot_id[:8]} "
            f"into {summary.target}"
        )
