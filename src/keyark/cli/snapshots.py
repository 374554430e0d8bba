"""``keyark snapshots``: list snapshots."""

from __future__ import annotations

import os

import click

from keyark import ops
from keyark.cli.render import flag_marker, printable
from keyark.cli.settings import global_options
from keyark.cli.verb import start


def filter_options(func: click.decorators.FC) -> click.decorators.FC:
    """``--host``, ``--tag``, ``--path`` as restic has them."""
    func = click.option(
        "--path", "paths", multiple=True, metavar="PATH", help="Only snapshots with this path."
    )(func)
    func = click.option(
        "--tag", "tags", multiple=True, metavar="TAG[,TAG]", help="Only snapshots with these tags."
    )(func)
    func = click.option(
        "--host", "hosts", multiple=True, metavar="HOST", help="Only snapshots of this host."
    )(func)
    return func


def make_filter(
    hosts: tuple[str, ...], tags: tuple[str, ...], paths: tuple[str, ...]
) -> ops.SnapshotFilter:
    """The filter options as a snapshot filter (``--path`` relative to the working directory)."""
    return ops.SnapshotFilter(
        hosts=list(hosts), tags=list(tags), paths=[os.path.abspath(p) for p in paths]
    )


@click.command("snapshots")
@filter_options
@click.option("--latest", type=int, metavar="N", help="Only the newest N per host and paths.")
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    hosts: tuple[str, ...],
    tags: tuple[str, ...],
    paths: tuple[str, ...],
    latest: int | None,
) -> None:
    """List snapshots."""
    out, context = start(ctx)
    found = ops.snapshots(
        context, ops.SnapshotsOptions(make_filter(hosts, tags, paths), latest)
    ).snapshots
    if out.json:
        out.emit_json([s.describe() for s in found])
        return
    rows = [
        (
            s.short_id,
            s.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            printable(s.host)
            + (f" (agent {printable(s.extra['agent'])})" if "agent" in s.extra else "")
            + flag_marker(s.extra.get("trust")),
            ",".join(printable(t) for t in s.tags),
            ("\n" if out.tty else ",").join(printable(p) for p in s.paths),
        )
        for s in found
    ]
    out.table(["ID", "Time", "Host", "Tags", "Paths"], rows)
    out.print(f"{len(found)} snapshots")
