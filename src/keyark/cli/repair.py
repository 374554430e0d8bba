"""``keyark repair``: rebuild damaged metadata."""

from __future__ import annotations

import click

from keyark.cli.render import Output
from keyark.cli.settings import global_options, settings_of
from keyark.maintenance.repair import repair_index


@click.group("repair")
def command() -> None:
    """Repair the repository."""


@command.command("index")
@global_options
@click.pass_context
def index(ctx: click.Context) -> None:
    """Rebuild the index from the pack headers."""
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    try:
        summary = repair_index(repo, out.warn)
    finally:
        repo.close()
    if out.json:
        out.emit_json(summary.__dict__)
        return
    out.print(
        f"indexed {summary.blobs_indexed} blobs in {summary.packs_indexed} packs; "
        f"wrote {summary.index_files_written} index file(s), "
        f"removed {summary.index_files_removed} old one(s)"
    )
