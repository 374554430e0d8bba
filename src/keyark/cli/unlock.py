"""``keyark unlock``: remove stale locks (or every lock with ``--remove-all``)."""

from __future__ import annotations

import click

from keyark.cli.render import Output
from keyark.cli.settings import global_options, settings_of
from keyark.maintenance.unlock import unlock


@click.command("unlock")
@click.option(
    "--remove-all", is_flag=True, help="Remove every lock, also those of running processes."
)
@global_options
@click.pass_context
def command(ctx: click.Context, remove_all: bool) -> None:
    """Remove locks left by processes that are gone."""
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    try:
        removed = unlock(repo, remove_all=remove_all)
    finally:
        repo.close()
    if out.json:
        out.emit_json(
            [
                {
                    "name": info.name,
                    "host": info.host,
                    "pid": info.pid,
                    "username": info.username,
                    "operation": info.operation,
                    "exclusive": info.exclusive,
                    "created": info.created,
                    "readable": info.readable,
                }
                for info in removed
            ]
        )
        return
    for info in removed:
        short = info.name.rsplit("/", 1)[-1][:8]
        if not info.readable:
            out.print(f"removed unreadable lock {short} (damaged, or not written by keyark)")
            continue
        out.print(f"removed lock {short}: {info.describe()}")
    out.print(f"{len(removed)} lock(s) removed")
