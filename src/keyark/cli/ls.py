"""``keyark ls``: list the contents of a snapshot."""

from __future__ import annotations

from datetime import datetime

import click

from keyark import ops
from keyark.catalog.browse import list_entries
from keyark.cli.render import Output, printable, snapshot_label
from keyark.cli.session import browsing
from keyark.cli.settings import global_options, settings_of
from keyark.repo.tree import DIR, SYMLINK, Node


def mode_string(node: Node) -> str:
    kind = {"dir": "d", "symlink": "l", "fifo": "p", "chardev": "c", "blockdev": "b"}.get(
        node.type, "-"
    )
    bits = "".join(
        char if node.mode & (1 << (8 - i)) else "-" for i, char in enumerate("rwxrwxrwx")
    )
    return kind + bits


@click.command("ls")
@click.argument("snapshot")
@click.argument("path", required=False, default="/")
@click.option("-l", "--long", "long_format", is_flag=True, help="Show mode, owner, size, time.")
@global_options
@click.pass_context
def command(ctx: click.Context, snapshot: str, path: str, long_format: bool) -> None:
    """List files in SNAPSHOT (below PATH)."""
    settings = settings_of(ctx)
    out = Output(settings)
    with browsing(settings, out) as session:
        chosen = ops.find_snapshot(session.repo, snapshot, ctx=session.context)
        entries = list_entries(session.load, chosen, path)
    if out.json:
        out.emit_json(
            {
                "snapshot": chosen.describe(),
                "entries": [{"path": e.path, **e.node.describe()} for e in entries],
            }
        )
        return
    out.print(f"snapshot {snapshot_label(chosen)} of {printable(chosen.host)}:")
    for entry in entries:
        node = entry.node
        suffix = "/" if node.type == DIR else ""
        if not long_format:
            out.print(printable(entry.path) + suffix)
            continue
        when = datetime.fromtimestamp(node.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
        owner = printable(f"{node.user or node.uid}:{node.group or node.gid}")
        link = f" -> {printable(node.target)}" if node.type == SYMLINK else ""
        out.print(
            f"{mode_string(node)} {owner:>12} {node.size:>12} {when} "
            f"{printable(entry.path)}{suffix}{link}"
        )
