"""``keyark restore-points list|forget``: the snapshots restores save before they
overwrite anything (see docs/recovery.md)."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output, local_time, printable
from keyark.cli.verb import start
from keyark.cli.wording import counted

_TARGET = click.option("-t", "--target", metavar="DIR", help="Only restore points of target DIR.")
_HOST = click.option("--host", metavar="HOST", help="Only restore points taken on HOST.")


@click.group("restore-points")
def command() -> None:
    """List or forget restore points (what restores saved before overwriting)."""


@command.command("list")
@_TARGET
@_HOST
@click.pass_context
def list_points(ctx: click.Context, target: str | None, host: str | None) -> None:
    """List restore points, oldest first: when, target, and the restore they precede."""
    out, context = start(ctx)
    result = ops.restore_points_list(context, ops.RestorePointsListOptions(target, host))
    rows = [
        [
            p.snapshot.short_id,
            local_time(p.snapshot.time),
            p.snapshot.host,
            printable(p.record.target),
            p.record.snapshot[:8],
            str(len(p.record.created)),
        ]
        for p in result.points
    ]
    documents = result.to_dict()["restore_points"]
    out.listing(documents, ("ID", "Time", "Host", "Target", "Restored", "Created"), rows)
    out.print(counted(len(rows), "restore point"))


@command.command("forget")
@click.argument("ids", nargs=-1, metavar="[RESTORE-POINT]...")
@click.option("--keep-last", type=int, metavar="N", help="Keep the newest N of each target.")
@click.option(
    "--older-than", metavar="DURATION", help="Remove restore points older than this (30d, 12h)."
)
@_TARGET
@_HOST
@click.option("-n", "--dry-run", is_flag=True, help="Only show what would be removed.")
@click.pass_context
def forget(
    ctx: click.Context,
    ids: tuple[str, ...],
    keep_last: int | None,
    older_than: str | None,
    target: str | None,
    host: str | None,
    dry_run: bool,
) -> None:
    """Remove the restore points named, or those --keep-last/--older-than do not keep.

    The retention counts each host and target on its own. Unused data goes with the
    next 'keyark prune'.
    """
    out, context = start(ctx)
    options = ops.RestorePointsForgetOptions(
        ids=list(ids),
        keep_last=keep_last,
        older_than=older_than,
        target=target,
        host=host,
        dry_run=dry_run,
    )
    result = ops.restore_points_forget(context, options)
    out.show(result, _forgotten)


def _forgotten(out: Output, result: ops.RestorePointsForgetResult) -> None:
    """The restore points removed (or that would be), then the counts."""
    verb = "would remove" if result.dry_run else "removed"
    for point in result.removed:
        out.print(f"{verb} restore point {point[:8]}")
    out.print(
        f"{verb} {counted(len(result.removed), 'restore point')}, "
        f"kept {counted(len(result.kept), 'restore point')}"
    )
