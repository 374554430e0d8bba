"""``keyark unlock``: remove stale locks (or every lock with ``--remove-all``)."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.verb import start
from keyark.cli.wording import counted


@click.command("unlock")
@click.option(
    "--remove-all", is_flag=True, help="Remove every lock, also those of running processes."
)
@click.pass_context
def command(ctx: click.Context, remove_all: bool) -> None:
    """Remove locks left by processes that are gone."""
    out, context = start(ctx)
    result = ops.unlock(context, ops.UnlockOptions(remove_all=remove_all))
    if out.json:
        out.emit_json(result.rows())
        return
    for info in result.removed:
        short = info.name.rsplit("/", 1)[-1][:8]
        if not info.readable:
            out.print(f"removed unreadable lock {short} (damaged, or not written by keyark)")
            continue
        out.print(f"removed lock {short}: {info.describe()}")
    out.print(f"{counted(len(result.removed), 'lock')} removed")
