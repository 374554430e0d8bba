"""``keyark find``: search file names across snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import click

from keyark import ops
from keyark.cli.render import Output, flag_marker, printable
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start
from keyark.cli.wording import counted, file_time
from keyark.errors import UsageError


def _time(text: str | None) -> datetime | None:
    return ops.parse_time(text) if text is not None else None


def _plain_paths(out: Output, matches: Sequence[ops.FindMatch]) -> None:
    """Each matching path once, one per line; a path found only in flagged snapshots
    carries their ``[FLAGGED: ...]`` marker (never passed off as trusted)."""
    markers: dict[str, str] = {}
    for match in matches:
        marker = flag_marker(match.snapshot.extra.get("trust"))
        if match.path not in markers or not marker:
            markers[match.path] = marker
    for path, marker in markers.items():
        out.result(printable(path) + marker)


def _fingerprint_matches(out: Output, result: ops.FindResult) -> None:
    """The snapshots and paths holding the fingerprint: a table and a count."""
    rows = [
        (
            m.snapshot.short_id + flag_marker(m.snapshot.extra.get("trust")),
            printable(m.finding.path),
            m.finding.kind,
            m.finding.subject or m.finding.name or "",
        )
        for m in result.fingerprint_matches
    ]
    out.table(["Snapshot", "Path", "Kind", "Subject or name"], rows)
    summary = f"{counted(len(rows), 'match')} in {counted(result.snapshots, 'snapshot')}"
    if result.without_inventory:
        summary += f" ({counted(result.without_inventory, 'snapshot')} without inventory)"
    out.print(summary)


@click.command("find")
@click.argument("pattern", required=False, default="")
@click.option(
    "-s",
    "--snapshot",
    "snapshots",
    multiple=True,
    metavar="ID",
    help="Search only this snapshot (id, prefix or 'latest'; repeatable).",
)
@click.option("-O", "--oldest", metavar="TIME", help="Only entries modified at or after TIME.")
@click.option("-N", "--newest", metavar="TIME", help="Only entries modified at or before TIME.")
@click.option(
    "--fingerprint",
    metavar="SHA256:HEX",
    help="Find the snapshots and paths holding a key or certificate with this fingerprint.",
)
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    pattern: str,
    snapshots: tuple[str, ...],
    oldest: str | None,
    newest: str | None,
    fingerprint: str | None,
    selection: ops.SnapshotFilter,
) -> None:
    """Find entries whose name matches PATTERN (a glob; with '/', the full path).

    On a terminal, a table of the matches; in a pipe, each matching path once, one
    per line (marked [FLAGGED: ...] if only flagged snapshots hold it). TIME is
    'YYYY-MM-DD[ HH:MM[:SS]]' (local time unless an offset is given). With
    --fingerprint instead of PATTERN: every snapshot and path whose key and
    certificate inventory holds that key or certificate.
    """
    out, context = start(ctx)
    if bool(pattern) == bool(fingerprint):
        raise UsageError("give a PATTERN or --fingerprint, one of them")
    options = ops.FindOptions(
        pattern,
        selection,
        list(snapshots),
        _time(oldest),
        _time(newest),
        fingerprint=fingerprint,
    )
    result = ops.find(context, options)
    if fingerprint:
        out.show(result, _fingerprint_matches)
        return
    if out.json:
        out.emit_json(result.json_groups())
        return
    if not out.tty:
        _plain_paths(out, result.matches)
        return
    rows = [
        (
            m.snapshot.short_id + flag_marker(m.snapshot.extra.get("trust")),
            printable(m.path),
            m.node.type,
            m.node.size,
            file_time(m.node.mtime_ns),
        )
        for m in result.matches
    ]
    out.table(["Snapshot", "Path", "Type", "Size", "Modified"], rows)
    out.print(f"{counted(len(result.matches), 'match')} in {counted(result.snapshots, 'snapshot')}")
