"""``keyark dump``: write a file (or a directory as tar) from a snapshot to stdout."""

from __future__ import annotations

import sys

import click

from keyark import ops
from keyark.cli.render import Output, snapshot_label
from keyark.cli.settings import global_options, settings_of
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.restorer.dump import dump


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
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    try:
        chosen = ops.find_snapshot(repo, snapshot, ctx=settings.context(out.warn))
        ops.require_trusted(repo, chosen, allow_unsigned, "dump")
        if is_agent_snapshot(chosen):
            out.warn(f"dumping snapshot {snapshot_label(chosen)}")
        dump(
            repo,
            chosen,
            path,
            sys.stdout.buffer,
            drop_privileges=is_agent_snapshot(chosen),
        )
        sys.stdout.buffer.flush()
    finally:
        repo.close()
