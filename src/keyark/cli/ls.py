"""``keyark ls``: list the contents of a snapshot."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import printable, snapshot_label
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start
from keyark.cli.wording import file_time


@click.command("ls")
@click.argument("snapshot")
@click.argument("path", required=False)
@click.option("-l", "--long", "long_format", is_flag=True, help="Show mode, owner, size, time.")
@click.option(
    "-R", "--recursive", is_flag=True, help="With PATH: everything below it, not only its children."
)
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    snapshot: str,
    path: str | None,
    long_format: bool,
    recursive: bool,
    selection: ops.SnapshotFilter,
) -> None:
    """List files in SNAPSHOT: all of them, or directory PATH and its direct children.

    SNAPSHOT is an id, a unique id prefix or 'latest' (the newest snapshot matching
    --host/--tag/--path). Names that are not UTF-8 are shown with \\xNN escapes; with
    --json (one JSON object per line: the snapshot, then each entry, as restic prints
    them) such a name also has its exact bytes, base64, in raw_name/raw_path.
    """
    out, context = start(ctx)
    options = ops.LsOptions(snapshot, path, recursive, selection)
    listing = ops.ls(context, options)
    if out.json:
        for line in listing.json_lines():
            out.emit_json(line)
        return
    chosen = listing.snapshot
    out.print(f"snapshot {snapshot_label(chosen)} of {printable(chosen.host)}:")
    for entry in listing.entries:
        node = entry.node
        suffix = "/" if entry.is_dir else ""
        if not long_format:
            out.result(printable(entry.path) + suffix)
            continue
        when = file_time(node.mtime_ns)
        owner = printable(f"{node.user or node.uid}:{node.group or node.gid}")
        link = f" -> {printable(node.target)}" if node.target else ""
        out.result(
            f"{node.permissions()} {owner:>12} {node.size:>12} {when} "
            f"{printable(entry.path)}{suffix}{link}"
        )
