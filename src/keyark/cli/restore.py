"""``keyark restore``: restore a snapshot into a directory."""

from __future__ import annotations

import click

from keyark import ops
from keyark.archiver.archiver import Progress
from keyark.cli.render import Output, human_size, snapshot_label
from keyark.cli.settings import global_options, settings_of
from keyark.cli.snapshots import filter_options, make_filter
from keyark.errors import RestoreError, UsageError
from keyark.repo.snapshot import parse_time
from keyark.results import RestoreSummary


@click.command("restore")
@click.argument("snapshot", required=False)
@click.option("-t", "--target", required=True, metavar="DIR", help="Directory to restore into.")
@click.option(
    "-i",
    "--include",
    "includes",
    multiple=True,
    metavar="GLOB",
    help="Restore only matching paths.",
)
@click.option(
    "-e", "--exclude", "excludes", multiple=True, metavar="GLOB", help="Skip matching paths."
)
@click.option("--verify", is_flag=True, help="Re-read restored files and compare.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be restored.")
@click.option(
    "--overwrite",
    type=click.Choice(["always", "if-changed", "never"]),
    default="always",
    show_default=True,
    help="What to do with existing files.",
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
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    snapshot: str | None,
    target: str,
    includes: tuple[str, ...],
    excludes: tuple[str, ...],
    verify: bool,
    dry_run: bool,
    overwrite: str,
    at: str | None,
    allow_unsigned: bool,
    keep_privileges: bool,
    hosts: tuple[str, ...],
    tags: tuple[str, ...],
    paths: tuple[str, ...],
) -> None:
    """Restore SNAPSHOT (an id, id prefix or 'latest'; or use --at) into --target.

    SNAPSHOT:DIR restores only DIR of the snapshot.
    """
    settings = settings_of(ctx)
    out = Output(settings)
    if snapshot is None and at is None:
        raise UsageError("name a SNAPSHOT (id, prefix or 'latest') or give --at TIME")
    ref, _, subpath = (snapshot or "").partition(":")
    repo = settings.open_repository()
    counters = Progress()
    try:
        chosen = ops.find_snapshot(
            repo,
            ref or None,
            make_filter(hosts, tags, paths),
            parse_time(at) if at else None,
            settings.context(out.warn),
        )
        options = ops.RestoreOptions(
            target=target,
            includes=list(includes),
            excludes=list(excludes),
            verify=verify,
            dry_run=dry_run,
            overwrite=overwrite,
            subpath=subpath or "/",
            allow_unsigned=allow_unsigned,
            keep_privileges=keep_privileges,
        )
        out.print(
            f"restoring snapshot {snapshot_label(chosen)} of "
            f"{chosen.time:%Y-%m-%d %H:%M:%S} to {target}"
        )
        try:
            with out.progress("restore"):
                summary = ops.restore(
                    repo, chosen, options, ctx=settings.context(out.warn), progress=counters
                )
        except RestoreError as error:
            partial: RestoreSummary | None = getattr(error, "summary", None)
            if partial is not None:
                _report(out, partial)
            raise
    finally:
        repo.close()
    _report(out, summary)


def _report(out: Output, summary: RestoreSummary) -> None:
    if out.json:
        out.emit_json(summary.to_dict())
        return
    verb = "would restore" if summary.dry_run else "restored"
    out.print(
        f"{verb} {summary.files_restored} files, {summary.dirs_restored} dirs, "
        f"{summary.symlinks_restored} symlinks, {human_size(summary.bytes_restored)}"
        + (f"; skipped {summary.files_skipped} existing" if summary.files_skipped else "")
        + (f"; verified {summary.files_verified} files" if summary.files_verified else "")
        + (f" in {summary.duration_seconds:.2f}s" if not summary.dry_run else "")
    )
    for message in summary.errors:
        out.warn(message)
