"""``keyark dump``: write a file (or a directory as tar) from a snapshot to stdout."""

from __future__ import annotations

import sys

import click

from keyark import ops
from keyark.cli.settings import global_options
from keyark.cli.verb import start


@click.command("dump")
@click.argument("snapshot")
@click.argument("path")
@click.option(
    "--allow-unsigned", is_flag=True, help="Dump a flagged snapshot (unsigned, foreign host, ...)."
)
@global_options
@click.pass_context
def command(ctx: click.Context, snapshot: str, path: str, allow_unsigned: bool) -> None:
    """Write PATH of SNAPSHOT to standard output (directories as a tar stream).

    'latest' skips flagged snapshots; a flagged one named by id needs --allow-unsigned.
    """
    _, context = start(ctx)
    ops.dump(context, ops.DumpOptions(snapshot, path, sys.stdout.buffer, allow_unsigned))
