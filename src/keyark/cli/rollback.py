"""``keyark rollback``: undo a restore from its restore point (see docs/recovery.md)."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import human_size, printable
from keyark.cli.verb import start
from keyark.cli.wording import counted


@click.command("rollback")
@click.argument("restore_point", metavar="[RESTORE-POINT]", required=False)
@click.option(
    "-t",
    "--target",
    metavar="DIR",
    help="Use the newest restore point of this restore target (when none is named).",
)
@click.option("--host", metavar="HOST", help="Only restore points taken on HOST.")
@click.pass_context
def command(
    ctx: click.Context, restore_point: str | None, target: str | None, host: str | None
) -> None:
    """Undo a restore: put its target back as the restore point saved it.

    RESTORE-POINT is an id or id prefix ('keyark restore-points list'); without one,
    the newest restore point of --target is used. Entries the restore created are
    removed and every entry it changed is written back. Exit codes: 0 rolled back,
    1 an error (no such restore point, entries that could not be put back).
    """
    out, context = start(ctx)
    options = ops.RollbackOptions(restore_point=restore_point, target=target, host=host)
    result = ops.rollback(context, options)
    out.outcome(
        result,
        f"rolled {printable(result.target)} back to restore point {result.restore_point[:8]} "
        f"(undoing the restore of snapshot {result.restored_snapshot[:8]}): "
        f"put back {counted(result.files_restored, 'file')}, "
        f"{counted(result.symlinks_restored, 'symlink')}, {human_size(result.bytes_restored)}; "
        f"removed {counted(result.removed, 'created entry', 'created entries')}",
    )
