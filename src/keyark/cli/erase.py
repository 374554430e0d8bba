"""``keyark erase``: remove matching paths from every snapshot and prove they are gone."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.verb import start
from keyark.cli.wording import counted
from keyark.errors import ErasureUnverifiedError


def render(out: Output, result: ops.Erasure) -> None:
    """What matched where, what was rewritten, and the proof."""
    if not result.snapshots:
        out.print("no snapshot lists a matching path")
    for item in result.snapshots:
        out.print(f"snapshot {item.snapshot[:8]}:")
        for path in item.paths:
            out.print(f"  {'would erase' if result.dry_run else 'erased'} {path}")
        if item.replacement is not None:
            out.print(f"  replaced by {item.replacement[:8]} (original forgotten)")
    planned = f"{counted(result.planned_blobs, 'blob')} ({result.planned_bytes} bytes stored)"
    if result.dry_run:
        out.print(
            f"would erase {counted(len(result.paths), 'path')} from "
            f"{counted(len(result.snapshots), 'snapshot')}: {planned}"
        )
        out.print("dry run: nothing was changed")
        return
    proof = result.proof
    if proof is None:
        return
    out.print(f"removed {counted(proof.removed_blobs, 'blob')} ({proof.removed_bytes} bytes)")
    for blob in proof.retained:
        out.print(
            f"kept blob {blob.blob[:16]} ({blob.size} bytes): still used by "
            f"{blob.path} in snapshot {blob.snapshot[:8]}"
        )
    for snapshot_id, path in proof.still_listed:
        out.print(f"still listed: {path} in snapshot {snapshot_id[:8]}")
    for blob_id in proof.orphaned:
        out.print(f"still indexed, unused: blob {blob_id[:16]}")
    if result.catalog_rebuilt:
        out.print("local catalog cache rebuilt")
    checked = counted(proof.snapshots_checked, "snapshot")
    if result.verified:
        out.print(f"verified: no snapshot of {checked} lists a matching path")


@click.command("erase")
@click.option(
    "--path",
    "paths",
    multiple=True,
    required=True,
    metavar="PATTERN",
    help="Erase paths matching PATTERN (exclude rules: '.env', '/srv/app/.env'); repeatable.",
)
@click.option(
    "--snapshot",
    "snapshot_ids",
    multiple=True,
    metavar="ID",
    help="Only these snapshots (default: every snapshot); repeatable.",
)
@click.option("--reason", required=True, help="Why (kept in the audit record).")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be erased; change nothing.")
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    snapshot_ids: tuple[str, ...],
    reason: str,
    dry_run: bool,
) -> None:
    """Erase paths from the repository: rewrite, forget, prune, then prove they are gone.

    Every snapshot listing a path matching --path is rewritten without it, the
    originals are forgotten and every unused byte is pruned; the local catalog cache
    is rebuilt. Then the repository is checked from scratch: no snapshot lists the
    path, and no index entry points at its data unless retained content uses it (said
    per blob). Exits 1 when the proof fails (after showing it). Copies in other repositories and
    storage-side retention (Object Lock) are out of its reach (docs/compliance.md).
    """
    out, context = start(ctx)
    options = ops.EraseOptions(
        paths=list(paths), snapshots=list(snapshot_ids), reason=reason, dry_run=dry_run
    )
    try:
        with out.progress("erase", unit="snapshots"):
            result = ops.erase(context, options)
    except ErasureUnverifiedError as error:
        if isinstance(error.result, ops.Erasure):
            out.show(error.result, render)
        raise
    out.show(result, render)
