"""``keyark snapshots``: list snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from keyark import ops
from keyark.cli.render import Output, flag_marker, local_time, printable
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start
from keyark.cli.wording import counted


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
@click.pass_context
def command(
    ctx: click.Context,
    selection: ops.SnapshotFilter,
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
    listed = ops.snapshots(context, ops.SnapshotsOptions(selection, latest, fields))
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
