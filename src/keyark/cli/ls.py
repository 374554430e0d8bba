"""``keyark ls``: list the contents of a snapshot."""

from __future__ import annotations

from datetime import datetime

import click

from keyark import ops
from keyark.cli.render import printable, snapshot_label
from keyark.cli.settings import global_options
from keyark.cli.verb import start

#: The ``ls -l`` type letter of each node type (regular files: ``-``).
TYPE_LETTERS = {"dir": "d", "symlink": "l", "fifo": "p", "chardev": "c", "blockdev": "b"}


def mode_string(kind: str, mode: int) -> str:
    """``drwxr-x---``: the type letter and the permission bits of a node."""
    bits = "".join(char if mode & (1 << (8 - i)) else "-" for i, char in enumerate("rwxrwxrwx"))
    return TYPE_LETTERS.get(kind, "-") + bits


@click.command("ls")
@click.argument("snapshot")
@click.argument("path", required=False, default="/")
@click.option("-l", "--long", "long_format", is_flag=True, help="Show mode, owner, size, time.")
@global_options
@click.pass_context
def command(ctx: click.Context, snapshot: str, path: str, long_format: bool) -> None:
    """List files in SNAPSHOT (below PATH)."""
    out, context = start(ctx)
    listing = ops.ls(context, ops.LsOptions(snapshot, path))
    if out.json:
        out.emit_json(listing.to_dict())
        return
    chosen = listing.snapshot
    out.print(f"snapshot {snapshot_label(chosen)} of {printable(chosen.host)}:")
    for entry in listing.entries:
        node = entry.node
        suffix = "/" if entry.is_dir else ""
        if not long_format:
            out.print(printable(entry.path) + suffix)
            continue
        when = datetime.fromtimestamp(node.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
        owner = printable(f"{node.user or node.uid}:{node.group or node.gid}")
        link = f" -> {printable(node.target)}" if node.target else ""
        out.print(
            f"{mode_string(node.type, node.mode)} {owner:>12} {node.size:>12} {when} "
            f"{printable(entry.path)}{suffix}{link}"
        )
