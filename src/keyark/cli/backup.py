"""``keyark backup``: back up files and directories."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import human_size
from keyark.cli.settings import global_options
from keyark.cli.verb import start
from keyark.errors import EXIT_PARTIAL


@click.command("backup")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-e", "--exclude", "excludes", multiple=True, metavar="GLOB", help="Skip matches.")
@click.option(
    "--exclude-file",
    "exclude_files",
    multiple=True,
    metavar="FILE",
    help="Read exclude patterns from FILE.",
)
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag the snapshot.")
@click.option("--host", metavar="HOST", help="Host name recorded in the snapshot.")
@click.option(
    "--compression",
    metavar="ALGO[:LEVEL]",
    help="zstd[:LEVEL] (default zstd:3), gzip, bzip2, lzma, none or auto.",
)
@click.option("--auto-rotate", is_flag=True, help="Rotate the data key first if it is due.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    excludes: tuple[str, ...],
    exclude_files: tuple[str, ...],
    tags: tuple[str, ...],
    host: str | None,
    compression: str | None,
    dry_run: bool,
    auto_rotate: bool,
) -> int:
    """Back up PATHS into the repository."""
    out, context = start(ctx)
    options = ops.BackupOptions(
        paths=list(paths),
        tags=[t for value in tags for t in value.split(",") if t],
        host=host,
        excludes=list(excludes),
        exclude_files=list(exclude_files),
        compression=compression,
        dry_run=dry_run,
        auto_rotate=auto_rotate,
        count_totals=out.live_progress,
    )
    with out.progress("backup"):
        summary = ops.backup(context, options)
    if out.json:
        out.emit_json(summary.to_dict())
    else:
        if summary.parent:
            out.print(f"using parent snapshot {summary.parent[:8]}")
        out.print(
            f"Files:       {summary.files_new} new, {summary.files_changed} changed, "
            f"{summary.files_unchanged} unchanged"
        )
        out.print(
            f"Dirs:        {summary.dirs_new} new, {summary.dirs_changed} changed, "
            f"{summary.dirs_unchanged} unchanged"
        )
        out.print(
            f"Processed {summary.total_files} files, {human_size(summary.bytes_processed)}; "
            f"read {human_size(summary.bytes_read)}; "
            f"added {human_size(summary.bytes_added)} ({human_size(summary.bytes_stored)} stored) "
            f"in {summary.duration_seconds:.2f}s"
        )
        if dry_run:
            out.print("dry run: nothing was written")
        else:
            out.print(f"snapshot {summary.snapshot_id[:8]} saved")
        if summary.errors:
            out.print(f"{len(summary.errors)} source(s) could not be read; see warnings above")
    return EXIT_PARTIAL if summary.errors else 0
