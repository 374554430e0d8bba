"""``keyark repair``: rebuild damaged metadata."""

from __future__ import annotations

from typing import Any, TypeVar

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.verb import start
from keyark.cli.wording import counted

R = TypeVar("R", bound=ops.Result)


@click.group("repair")
def command() -> None:
    """Repair the repository."""


def _run(
    ctx: click.Context, operation: ops.Operation[Any, R], options: object, unit: str = "packs"
) -> tuple[Output, R]:
    """Run a repair operation; with ``--json`` its result is printed here (and the
    verb's text output is then silent)."""
    out, context = start(ctx)
    with out.progress(operation.name, unit=unit):
        result = operation(context, options)
    if out.json:
        out.emit_json(result.to_dict())
    return out, result


@command.command("index")
@click.pass_context
def index(ctx: click.Context) -> None:
    """Rebuild the index from the pack headers."""
    out, summary = _run(ctx, ops.repair_index, ops.RepairIndexOptions())
    out.print(
        f"indexed {counted(summary.blobs_indexed, 'blob')} in "
        f"{counted(summary.packs_indexed, 'pack')}; "
        f"wrote {counted(summary.index_files_written, 'index file')}, "
        f"removed {counted(summary.index_files_removed, 'old one')}"
    )
    if summary.damaged_packs:
        out.print(
            f"salvaged {counted(summary.blobs_salvaged, 'readable blob')} from "
            f"{counted(summary.damaged_packs, 'damaged pack')} into new packs"
        )
    if summary.blobs_lost:
        out.print(
            f"{counted(summary.blobs_lost, 'blob')} could not be saved; "
            "run 'keyark repair snapshots' to see the files they belong to and mark them"
        )


@command.command("packs")
@click.argument("pack_ids", nargs=-1, required=True)
@click.pass_context
def packs(ctx: click.Context, pack_ids: tuple[str, ...]) -> None:
    """Salvage the readable blobs of PACK_IDS into new packs, then remove them from the index."""
    out, summary = _run(ctx, ops.repair_packs, ops.RepairPacksOptions(list(pack_ids)))
    out.print(
        f"salvaged {counted(summary.blobs_salvaged, 'blob')} from "
        f"{counted(len(summary.packs), 'pack')} "
        f"({summary.blobs_already_safe} already had another copy); "
        f"rewrote {counted(summary.index_files_rewritten, 'index file')}; "
        "the packs are no longer indexed ('keyark prune' deletes them)"
    )
    if summary.blobs_lost:
        out.print(
            f"{counted(summary.blobs_lost, 'blob')} could not be saved; "
            "run 'keyark repair snapshots' to mark the files they belong to"
        )


@command.command("snapshots")
@click.option("--forget", is_flag=True, help="Remove the damaged originals.")
@click.option("--read-data", is_flag=True, help="Also decrypt every data blob to find damage.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be repaired; change nothing.")
@click.pass_context
def snapshots(ctx: click.Context, forget: bool, read_data: bool, dry_run: bool) -> None:
    """Rewrite damaged snapshots, replacing lost files and directories with empty markers."""
    options = ops.RepairSnapshotsOptions(forget=forget, dry_run=dry_run, read_data=read_data)
    out, summary = _run(ctx, ops.repair_snapshots, options)
    for item in summary.snapshots:
        short = item.original[:8]
        if item.root_lost:
            fate = "removed" if item.forgotten else "cannot be repaired (use --forget to remove it)"
            what = "cannot be read at all" if item.unreadable else "root directory is lost"
            out.print(f"snapshot {short}: {what}; {fate}")
            continue
        for path in item.replaced:
            out.print(f"snapshot {short}: {path} is damaged; replaced by an empty marker")
        if item.replacement:
            fate = "; original removed" if item.forgotten else ""
            out.print(f"snapshot {short} repaired as {item.replacement[:8]}{fate}")
    damaged = len(summary.snapshots)
    if dry_run:
        out.print(f"dry run: {damaged} of {counted(summary.checked, 'snapshot')} would be repaired")
    else:
        were = "was" if damaged == 1 else "were"
        out.print(f"{damaged} of {counted(summary.checked, 'snapshot')} {were} damaged")


@command.command("config")
@click.pass_context
def config(ctx: click.Context) -> None:
    """Rewrite a damaged config (or its copy config.bak) from the verified one."""
    _render_state(*_run(ctx, ops.repair_config, ops.RepairStateOptions()))


@command.command("keyring")
@click.pass_context
def keyring(ctx: click.Context) -> None:
    """Rewrite a damaged keyring (or its copy keyring.bak) from the verified one."""
    _render_state(*_run(ctx, ops.repair_keyring, ops.RepairStateOptions()))


def _render_state(out: Output, summary: ops.RepairStateSummary) -> None:
    """Both subcommands check and rewrite all four objects: config, keyring and copies."""
    for name in summary.rewritten:
        out.print(f"rewrote '{name}' from the verified copy")
    if not summary.rewritten:
        out.print("config, keyring and their copies are intact; nothing was changed")
