"""``keyark catalog``: the local SQLite catalog."""

from __future__ import annotations

import time

import click

from keyark import ops
from keyark.catalog.sync import open_catalog, sync_snapshots, tree_loader
from keyark.cli.render import Output
from keyark.cli.settings import global_options, settings_of


@click.group("catalog")
def command() -> None:
    """Manage the local catalog (a rebuildable cache)."""


@command.command("rebuild")
@global_options
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Drop the catalog and rebuild it from the repository."""
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    started = time.monotonic()
    context: ops.Context = settings.context(out.warn)
    catalog = open_catalog(repo, context.cache_dir)
    try:
        catalog.clear()
        found = sync_snapshots(catalog, repo, out.warn)
        load = tree_loader(catalog, repo)
        for snapshot in found:
            load(snapshot.tree)
    finally:
        catalog.close()
        repo.close()
    elapsed = time.monotonic() - started
    if out.json:
        out.emit_json({"snapshots": len(found), "seconds": round(elapsed, 3)})
    else:
        out.print(f"catalog rebuilt: {len(found)} snapshots in {elapsed:.2f}s")
