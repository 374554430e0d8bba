"""``keyark dump``: write a file (or a directory as tar) from a snapshot to stdout."""

from __future__ import annotations

import sys

import click

from keyark import ops
from keyark.cli.settings import global_options, settings_of
from keyark.restorer.dump import dump


@click.command("dump")
@click.argument("snapshot")
@click.argument("path")
@global_options
@click.pass_context
def command(ctx: click.Context, snapshot: str, path: str) -> None:
    """Write PATH of SNAPSHOT to standard output (directories as a tar stream)."""
    settings = settings_of(ctx)
    repo = settings.open_repository()
    try:
        chosen = ops.find_snapshot(repo, snapshot, ctx=settings.context())
        dump(repo, chosen, path, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    finally:
        repo.close()
