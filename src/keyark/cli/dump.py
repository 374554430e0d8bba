"""``keyark dump``: write a file of a snapshot, or a directory as a tar or zip archive."""

from __future__ import annotations

import sys

import click

from keyark import ops
from keyark.cli.snapshot_filter import filter_options, snapshot_and_directory
from keyark.cli.verb import start


@click.command("dump")
@click.argument("snapshot")
@click.argument("path")
@click.option(
    "-a",
    "--archive",
    type=click.Choice(ops.ARCHIVE_FORMATS),
    default="tar",
    show_default=True,
    help="Archive format of a directory (a file is written as it is).",
)
@click.option(
    "-t",
    "--target",
    metavar="FILE",
    help="Write to FILE (replaced once complete, mode at most 0600) instead of standard output.",
)
@click.option(
    "--allow-unsigned", is_flag=True, help="Dump a flagged snapshot (unsigned, foreign host, ...)."
)
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    snapshot: str,
    path: str,
    archive: str,
    target: str | None,
    allow_unsigned: bool,
    selection: ops.SnapshotFilter,
) -> None:
    """Write PATH of SNAPSHOT to standard output or --target: a file as it is, a
    directory as a tar (default) or zip archive named by snapshot paths.

    SNAPSHOT:DIR names archive entries relative to DIR of the snapshot. 'latest' picks
    the newest trusted snapshot (--host/--tag/--path narrow it); a flagged one named by
    id needs --allow-unsigned. An archive or a binary file is never written to a
    terminal.
    """
    out, context = start(ctx)
    ref, base = snapshot_and_directory(snapshot)
    options = ops.DumpOptions(
        snapshot=ref,
        path=path,
        output=None if target else sys.stdout.buffer,
        allow_unsigned=allow_unsigned,
        archive=archive,
        target=target or None,
        selection=selection,
        base=base,
    )
    result = ops.dump(context, options)
    if target and out.json:
        out.emit_json(result.to_dict())
