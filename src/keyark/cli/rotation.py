"""``keyark key rotate`` and ``keyark key status``: data-key epochs."""

from __future__ import annotations

import click

from keyark.archiver.archiver import Progress
from keyark.cli.key import command as key_group
from keyark.cli.render import Output
from keyark.cli.settings import global_options, settings_of
from keyark.maintenance.root_rotation import rotate_root
from keyark.maintenance.rotate import key_status, reencrypt, rotate


@key_group.command("rotate")
@click.option(
    "--reencrypt",
    "reencrypt_flag",
    is_flag=True,
    help="Rewrite everything sealed with retired keys, then delete those keys.",
)
@click.option(
    "--root",
    "root_flag",
    is_flag=True,
    help="Also replace the keyring key KR (re-wrapped to every remaining slot): "
    "a removed slot file then opens nothing.",
)
@global_options
@click.pass_context
def rotate_command(ctx: click.Context, reencrypt_flag: bool, root_flag: bool) -> None:
    """Make a new data key current (retired keys only decrypt)."""
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    counters = Progress()
    try:
        if root_flag:
            rotated = rotate_root(
                repo, retry_lock=settings.retry_lock_seconds(), reencrypt_next=reencrypt_flag
            )
            if out.json:
                out.emit_json(rotated.to_dict())
            else:
                skipped = (
                    f"; left {len(rotated.slots_skipped)} malformed or unauthenticated slot(s) "
                    f"as they were: {', '.join(s[:8] for s in rotated.slots_skipped)}"
                    if rotated.slots_skipped
                    else ""
                )
                out.print(
                    f"{'finished interrupted' if rotated.resumed else 'rotated'} keyring key: "
                    f"{len(rotated.slots_rewrapped)} slot(s) re-wrapped, keyring version "
                    f"{rotated.keyring_version}, data key {rotated.data_key} current, "
                    f"config re-signed{skipped}; re-issue agent credentials ('keyark agent add')"
                )
            if not reencrypt_flag:
                return
        if not reencrypt_flag:
            key_id = rotate(repo, retry_lock=settings.retry_lock_seconds())
            if out.json:
                out.emit_json({"message_type": "rotated", "current": key_id})
            else:
                out.print(f"data key {key_id} is now current; older keys only decrypt")
            return

        def advance(done: int, total: int) -> None:
            counters.total_bytes, counters.scan_finished = total, True
            counters.bytes_done, counters.files_done = done, done

        with out.progress("re-encrypt", unit="packs"):
            summary = reencrypt(
                repo, retry_lock=settings.retry_lock_seconds(), warn=out.warn, progress=advance
            )
    finally:
        repo.close()
    if out.json:
        out.emit_json(summary.to_dict())
        return
    out.print(
        f"re-encrypted under {summary.target_key}: {summary.packs_rewritten} packs "
        f"({summary.blobs_rewritten} blobs), {summary.snapshots_rewritten} snapshots; "
        f"deleted {summary.packs_deleted} old packs, {summary.session_keys_deleted} session keys; "
        f"removed retired keys {', '.join(summary.retired_keys_removed) or '(none)'} "
        f"in {summary.duration_seconds:.2f}s"
    )


@key_group.command("status")
@global_options
@click.pass_context
def status_command(ctx: click.Context) -> None:
    """Show each data-key epoch and when rotation is due."""
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    try:
        status = key_status(repo)
    finally:
        repo.close()
    if out.json:
        out.emit_json(status.to_dict())
        return
    out.table(
        ["Key id", "Created", "Age (days)", "State", "Objects", "Blobs"],
        [
            (e.id, e.created, f"{e.age_days:.1f}", e.state, e.objects, e.blobs)
            for e in status.epochs
        ],
    )
    out.print(
        f"rotation {'is DUE' if status.due else 'next due'}: {status.reason or status.next_due}"
    )
    if status.reencrypt_pending:
        out.print("an interrupted 'key rotate --reencrypt' is pending: run it again to finish")
