"""``keyark restore``: restore a snapshot into a directory."""

from __future__ import annotations

from datetime import datetime

import click

from keyark import ops
from keyark.cli.options import verbosity
from keyark.cli.pattern_options import ExcludeFlags, exclude_options
from keyark.cli.render import Output, human_size, local_time, printable, snapshot_label
from keyark.cli.restore_view import RestoreView
from keyark.cli.settings import settings_of
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.wording import counted
from keyark.errors import RestoreError, UsageError


@click.command("restore")
@click.argument("snapshot", required=False)
@click.option("-t", "--target", metavar="DIR", help="Directory to restore into.")
@click.option(
    "--interactive",
    is_flag=True,
    help="Pick the snapshot and files in a terminal browser (keyark browse).",
)
@click.option(
    "-i",
    "--include",
    "includes",
    multiple=True,
    metavar="PATTERN",
    help="Restore only matching paths (see docs/patterns.md).",
)
@exclude_options
@click.option(
    "--iinclude", "iincludes", multiple=True, metavar="PATTERN", help="--include, ignoring case."
)
@click.option(
    "--include-file",
    "include_files",
    multiple=True,
    metavar="FILE",
    help="Read include patterns from FILE (one a line).",
)
@click.option(
    "--iinclude-file",
    "iinclude_files",
    multiple=True,
    metavar="FILE",
    help="--include-file, ignoring case.",
)
@click.option("--verify", is_flag=True, help="Re-read restored files and compare.")
@click.option("--sparse", is_flag=True, help="Restore all-zero runs of files as holes.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be restored.")
@click.option(
    "--delete",
    is_flag=True,
    help="Remove files and directories in --target that are not in the snapshot "
    "(only those the include/exclude patterns select; with --dry-run, list them).",
)
@click.option(
    "--overwrite",
    type=click.Choice(["always", "if-changed", "never"]),
    default="always",
    show_default=True,
    help="What to do with existing files.",
)
@click.option(
    "--no-restore-point",
    "no_restore_point",
    is_flag=True,
    help="Do not save what the restore overwrites or deletes first (no rollback then).",
)
@click.option(
    "--allow-unsigned", is_flag=True, help="Restore a snapshot no registered agent signed."
)
@click.option(
    "--keep-privileges",
    is_flag=True,
    help="Keep setuid/setgid bits and security/trusted/system xattrs of an agent's snapshot.",
)
@click.option(
    "--at",
    "at",
    metavar="'YYYY-MM-DD HH:MM[:SS]'",
    help="Newest snapshot at or before this time (point-in-time recovery).",
)
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    snapshot: str | None,
    target: str | None,
    interactive: bool,
    includes: tuple[str, ...],
    excluded: ExcludeFlags,
    iincludes: tuple[str, ...],
    include_files: tuple[str, ...],
    iinclude_files: tuple[str, ...],
    verify: bool,
    sparse: bool,
    dry_run: bool,
    delete: bool,
    overwrite: str,
    no_restore_point: bool,
    at: str | None,
    allow_unsigned: bool,
    keep_privileges: bool,
    selection: ops.SnapshotFilter,
) -> None:
    """Restore SNAPSHOT (an id, id prefix or 'latest'; or use --at) into --target.

    SNAPSHOT:DIR restores only DIR of the snapshot. Patterns follow restic's rules
    (docs/patterns.md) and match the snapshot's paths. Exit codes: 0 restored, 1 an
    error (nothing selected, an unusable target, entries that could not be restored:
    the rest is restored), 10 no repository, 11 locked, 12 wrong passphrase.
    """
    if interactive:
        from keyark.cli.browse import run_browser

        run_browser(ctx, target or "", selection)
        return
    if not target:
        raise UsageError("give --target DIR: the directory to restore into")
    settings = settings_of(ctx)
    out = Output(settings)
    if snapshot is None and at is None:
        raise UsageError("name a SNAPSHOT (id, prefix or 'latest') or give --at TIME")
    view = RestoreView(out, verbosity(ctx), dry_run=dry_run)
    ref, _, subpath = (snapshot or "").partition(":")
    if ref and at is not None:
        raise UsageError(f"--at picks the snapshot itself: give either {ref} or --at, not both")
    options = ops.RestoreOptions(
        target=target,
        includes=list(includes),
        excludes=excluded.excludes,
        iincludes=list(iincludes),
        iexcludes=excluded.iexcludes,
        include_files=list(include_files),
        exclude_files=excluded.exclude_files,
        iinclude_files=list(iinclude_files),
        iexclude_files=excluded.iexclude_files,
        verify=verify,
        sparse=sparse,
        dry_run=dry_run,
        delete=delete,
        overwrite=overwrite,
        subpath=subpath or "/",
        allow_unsigned=allow_unsigned,
        keep_privileges=keep_privileges,
        snapshot=ref or None,
        at=ops.parse_time(at) if at else None,
        selection=selection,
        report_items=view.wants_items,
        restore_point=not no_restore_point,
    )
    context = settings.operation_context(view.event)
    try:
        with out.progress("restore"):
            summary = ops.restore(context, options)
    except RestoreError as error:
        partial: ops.RestoreSummary | None = getattr(error, "summary", None)
        if partial is not None:
            _report(out, partial, target, view)
        raise
    _report(out, summary, target, view)


def _report(out: Output, summary: ops.RestoreSummary, target: str, view: RestoreView) -> None:
    if out.json:
        out.emit_json(summary.to_dict())
        return
    if summary.snapshot:
        when = local_time(datetime.fromisoformat(summary.snapshot["time"]))
        out.print(
            f"restoring snapshot {snapshot_label(summary.snapshot)} of {when} to "
            f"{printable(target)}"
        )
    if summary.dry_run and not view.wants_items:  # -v listed them as they came
        for path in summary.deleted:
            out.print(f"would delete {path}")
    verb = "would restore" if summary.dry_run else "restored"
    removed = summary.files_deleted + summary.dirs_deleted
    deleted = f"; {'would delete' if summary.dry_run else 'deleted'} {counted(removed, 'entry')}"
    out.print(
        f"{verb} {counted(summary.files_restored, 'file')}, "
        f"{counted(summary.dirs_restored, 'dir')}, "
        f"{counted(summary.symlinks_restored, 'symlink')}, {human_size(summary.bytes_restored)}"
        + (f"; skipped {summary.files_skipped} existing" if summary.files_skipped else "")
        + (
            f"; verified {counted(summary.files_verified, 'file')}"
            if summary.files_verified
            else ""
        )
        + (deleted if removed else "")
        + (f" in {summary.duration_seconds:.2f}s" if not summary.dry_run else "")
    )
    if summary.restore_point and not summary.rolled_back:
        point = summary.restore_point[:8]
        out.print(f"restore point {point} holds what it replaced (undo: 'keyark rollback {point}')")
    # summary.errors were shown as they happened (restore.entry warnings): not again.
