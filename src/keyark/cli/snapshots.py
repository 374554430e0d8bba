"""``keyark snapshots``: list snapshots."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import click

from keyark import ops
from keyark.cli.render import Output, flag_marker, local_time, printable
from keyark.cli.settings import global_options
from keyark.cli.verb import start
from keyark.cli.wording import counted


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
@click.option("-c", "--compact", is_flag=True, help="Leave out the paths column.")
@click.option(
    "-g",
    "--group-by",
    default="",
    metavar="FIELDS",
    help="Group by host, paths and/or tags (comma-separated); --latest counts per group.",
)
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    hosts: tuple[str, ...],
    tags: tuple[str, ...],
    paths: tuple[str, ...],
    latest: int | None,
    compact: bool,
    group_by: str,
) -> None:
    """List snapshots.

    With --json, a list of snapshots; with --group-by, restic's list of
    {"group_key": {"hostname", "paths", "tags"}, "snapshots": [...]} instead.
    """
    out, context = start(ctx)
    fields = ops.parse_group_by(group_by, "--group-by")
    listed = ops.snapshots(
        context, ops.SnapshotsOptions(make_filter(hosts, tags, paths), latest, fields)
    )
    if out.json:
        if listed.groups is not None:
            out.emit_json([group.to_dict() for group in listed.groups])
        else:
            out.emit_json([s.describe() for s in listed.snapshots])
        return
    if listed.groups is None:
        _table(out, listed.snapshots, compact)
        out.print(counted(len(listed.snapshots), "snapshot"))
        return
    for group in listed.groups:
        out.result(f"snapshots for ({_group_title(group.key)}):")
        _table(out, group.snapshots, compact)
        out.print(counted(len(group.snapshots), "snapshot"))
        out.result()


def _group_title(key: Mapping[str, Any]) -> str:
    """``host [h1], paths [/a, /b]`` (restic's group heading)."""
    parts = []
    for name in ("host", "paths", "tags"):
        if name in key:
            value = key[name]
            shown = ", ".join(printable(v) for v in value) if isinstance(value, list) else value
            parts.append(f"{name} [{printable(shown)}]")
    return ", ".join(parts)


def _table(out: Output, found: Sequence[ops.Snapshot], compact: bool) -> None:
    """The snapshots table: id, time (with its zone), host, tags and (unless compact) paths."""
    rows = [
        (
            s.short_id,
            local_time(s.time),
            printable(s.host)
            + (f" (agent {printable(s.extra['agent'])})" if "agent" in s.extra else "")
            + flag_marker(s.extra.get("trust")),
            ",".join(printable(t) for t in s.tags),
            *([] if compact else [("\n" if out.tty else ",").join(printable(p) for p in s.paths)]),
        )
        for s in found
    ]
    columns = ["ID", "Time", "Host", "Tags"] + ([] if compact else ["Paths"])
    out.table(columns, rows)
