"""``keyark catalog``: the local SQLite catalog."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.verb import start
from keyark.cli.wording import counted


@click.group("catalog")
def command() -> None:
    """Manage the local catalog (a rebuildable cache)."""


@command.command("rebuild")
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Drop the catalog and rebuild it from the repository."""
    out, context = start(ctx)
    with out.progress("catalog", unit="snapshots"):
        result = ops.catalog_rebuild(context, ops.CatalogRebuildOptions())
    out.outcome(
        result, f"catalog rebuilt: {counted(result.snapshots, 'snapshot')} in {result.seconds:.2f}s"
    )
