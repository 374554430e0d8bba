"""``keyark debug``: look inside the repository."""

from __future__ import annotations

import json

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.settings import settings_of


@click.group("debug")
def command() -> None:
    """Inspect repository internals."""


@command.command("cat")
@click.argument("kind", type=click.Choice(ops.DEBUG_KINDS))
@click.argument("object_id", required=False, default="")
@click.pass_context
def cat_command(ctx: click.Context, kind: str, object_id: str) -> None:
    """Print object KIND with id OBJECT_ID (prefix allowed) as JSON."""
    settings = settings_of(ctx)
    context = settings.operation_context(Output(settings).event)
    shown = ops.debug_cat(context, ops.DebugCatOptions(kind, object_id))
    click.echo(json.dumps(shown.to_dict(), indent=2, default=str))
