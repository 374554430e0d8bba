"""``keyark repair``: rebuild damaged metadata."""

from __future__ import annotations

import click

from keyark.cli.render import Output
from keyark.cli.settings import global_options, settings_of
from keyark.maintenance.repair import repair_index
from keyark.maintenance.repair_snapshots import RepairSnapshotsOptions, repair_snapshots


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
    retry = settings.retry_lock_seconds()
    repo = settings.open_repository()
    try:
        summary = repair_index(repo, out.warn, retry)
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


@command.command("snapshots")
@click.option("--forget", is_flag=True, help="Remove the damaged originals.")
@click.option("--read-data", is_flag=True, help="Also decrypt every data blob to find damage.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be repaired; change nothing.")
@global_options
@click.pass_context
def snapshots(ctx: click.Context, forget: bool, read_data: bool, dry_run: bool) -> None:
    """Rewrite damaged snapshots, replacing lost files and directories with empty markers."""
    settings = settings_of(ctx)
    out = Output(settings)
    options = RepairSnapshotsOptions(forget, dry_run, read_data, settings.retry_lock_seconds())
    repo = settings.open_repository()
    try:
        summary = repair_snapshots(repo, options, out.warn)
    finally:
        repo.close()
    if out.json:
        out.emit_json(summary.to_dict())
        return
    for item in summary.snapshots:
        short = item.original[:8]
        if item.root_lost:
            fate = "removed" if item.forgotten else "cannot be repaired (use --forget to remove it)"
            out.print(f"snapshot {short}: root directory is lost; {fate}")
            continue
        for path in item.replaced:
            out.print(f"snapshot {short}: {path} is damaged; replaced by an empty marker")
        if item.replacement:
            fate = "; original removed" if item.forgotten else ""
            out.print(f"snapshot {short} repaired as {item.replacement[:8]}{fate}")
    damaged = len(summary.snapshots)
    if dry_run:
        out.print(f"dry run: {damaged} of {summary.checked} snapshots would be repaired")
    else:
        out.print(f"{damaged} of {summary.checked} snapshots were damaged")
