"""``keyark backup``: back up files and directories."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.backup_view import BackupView
from keyark.cli.options import verbosity
from keyark.cli.pattern_options import ExcludeFlags, exclude_options
from keyark.cli.render import Output, human_size
from keyark.cli.settings import settings_of
from keyark.cli.wording import counted
from keyark.errors import EXIT_PARTIAL, UsageError


@click.command("backup")
@click.argument("paths", nargs=-1, type=click.Path())
@exclude_options
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag the snapshot.")
@click.option("--host", metavar="HOST", help="Host name recorded in the snapshot.")
@click.option(
    "--compression",
    metavar="ALGO[:LEVEL]",
    help="zstd[:LEVEL] (default zstd:3), gzip, bzip2, lzma, none or auto; restic's off, "
    "auto and max too.",
)
@click.option("--auto-rotate", is_flag=True, help="Rotate the data key first if it is due.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@click.option(
    "--files-from", multiple=True, metavar="FILE", help="Back up the globs in FILE, one a line."
)
@click.option(
    "--files-from-verbatim",
    multiple=True,
    metavar="FILE",
    help="Back up the paths in FILE, one a line, taken as they are.",
)
@click.option(
    "--files-from-raw",
    multiple=True,
    metavar="FILE",
    help="Back up the NUL-terminated paths in FILE.",
)
@click.option("--stdin", "from_stdin", is_flag=True, help="Back up standard input as one file.")
@click.option(
    "--stdin-filename",
    default="stdin",
    show_default=True,
    metavar="NAME",
    help="The file name for --stdin and --stdin-from-command.",
)
@click.option(
    "--stdin-from-command",
    is_flag=True,
    help="Back up the output of the command given as arguments (after --); "
    "a non-zero exit fails the backup.",
)
@click.option("-x", "--one-file-system", is_flag=True, help="Stay on the file system of each path.")
@click.option(
    "--exclude-caches", is_flag=True, help="Skip the contents of directories with CACHEDIR.TAG."
)
@click.option(
    "--exclude-if-present",
    multiple=True,
    metavar="FILE[:HEADER]",
    help="Skip the contents of directories holding FILE (starting with HEADER).",
)
@click.option(
    "--exclude-larger-than", metavar="SIZE", help="Skip files larger than SIZE (e.g. 100M)."
)
@click.option(
    "--time", "when", metavar="TIME", help="Record TIME ('YYYY-MM-DD HH:MM:SS') as the time."
)
@click.option("--parent", metavar="SNAPSHOT", help="Compare with SNAPSHOT, not the latest.")
@click.option("-f", "--force", is_flag=True, help="Read every file again (no parent snapshot).")
@click.option(
    "--no-inventory",
    is_flag=True,
    help="Record no key and certificate inventory in the snapshot.",
)
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    excluded: ExcludeFlags,
    tags: tuple[str, ...],
    host: str | None,
    compression: str | None,
    dry_run: bool,
    auto_rotate: bool,
    files_from: tuple[str, ...],
    files_from_verbatim: tuple[str, ...],
    files_from_raw: tuple[str, ...],
    from_stdin: bool,
    stdin_filename: str,
    stdin_from_command: bool,
    one_file_system: bool,
    exclude_caches: bool,
    exclude_if_present: tuple[str, ...],
    exclude_larger_than: str | None,
    when: str | None,
    parent: str | None,
    force: bool,
    no_inventory: bool,
) -> int:
    """Back up PATHS into the repository.

    With --stdin, standard input is backed up as the file /NAME (--stdin-filename);
    with --stdin-from-command, the output of the command given after -- is.
    """
    out = Output(settings_of(ctx))
    view = BackupView(out, verbosity(ctx), dry_run=dry_run)
    context = out.settings.operation_context(view.event)
    if stdin_from_command and not paths:
        raise UsageError("give the command after --, e.g. --stdin-from-command -- pg_dump db")
    options = ops.BackupOptions(
        paths=[] if stdin_from_command else list(paths),
        tags=[t for value in tags for t in value.split(",") if t],
        host=host,
        excludes=excluded.excludes,
        exclude_files=excluded.exclude_files,
        iexcludes=excluded.iexcludes,
        iexclude_files=excluded.iexclude_files,
        compression=compression,
        dry_run=dry_run,
        auto_rotate=auto_rotate,
        count_totals=out.live_progress or out.json,
        files_from=list(files_from),
        files_from_verbatim=list(files_from_verbatim),
        files_from_raw=list(files_from_raw),
        stdin=from_stdin,
        stdin_filename=stdin_filename,
        stdin_command=list(paths) if stdin_from_command else [],
        one_file_system=one_file_system,
        exclude_caches=exclude_caches,
        exclude_if_present=list(exclude_if_present),
        exclude_larger_than=(
            ops.parse_size(exclude_larger_than, "--exclude-larger-than")
            if exclude_larger_than
            else None
        ),
        time=ops.parse_time(when) if when else None,
        parent=parent,
        force=force,
        report_items=view.wants_items,
        inventory=not no_inventory,
    )
    with out.progress("backup"):
        summary = ops.backup(context, options)
    out.show(summary, _backed_up)
    return EXIT_PARTIAL if summary.errors else 0


def _backed_up(out: Output, summary: ops.BackupSummary) -> None:
    """restic's summary lines: files, dirs, sizes, the snapshot saved."""
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
        f"Processed {counted(summary.total_files, 'file')}, "
        f"{human_size(summary.bytes_processed)}; "
        f"read {human_size(summary.bytes_read)}; "
        f"added {human_size(summary.data_added)} ({human_size(summary.bytes_added)} stored) "
        f"in {summary.duration_seconds:.2f}s"
    )
    if summary.dry_run:
        out.print("dry run: nothing was written")
    else:
        out.print(f"snapshot {summary.snapshot_id[:8]} saved")
    if summary.errors:
        unread = counted(len(summary.errors), "source")
        out.print(f"{unread} could not be read; see warnings above")
