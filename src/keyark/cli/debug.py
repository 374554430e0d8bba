"""``keyark debug``: look inside the repository."""

from __future__ import annotations

import json

import click

from keyark.cli.settings import global_options, settings_of
from keyark.repo.inspect import KINDS, cat


@click.group("debug")
def command() -> None:
    """Inspect repository internals."""


@command.command("cat")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("object_id", required=False, default="")
@global_options
@click.pass_context
def cat_command(ctx: click.Context, kind: str, object_id: str) -> None:
    """Print object KIND with id OBJECT_ID (prefix allowed) as JSON."""
    settings = settings_of(ctx)
    repo = settings.open_repository()
    try:
        click.echo(json.dumps(cat(repo, kind, object_id), indent=2, default=str))
    finally:
        repo.close()
