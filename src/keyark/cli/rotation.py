"""``keyark key rotate`` and ``keyark key status``: data-key epochs."""

from __future__ import annotations

from contextlib import nullcontext

import click

from keyark import ops
from keyark.cli.key import command as key_group
from keyark.cli.render import Output
from keyark.cli.verb import start
from keyark.cli.wording import counted


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
@click.pass_context
def rotate_command(ctx: click.Context, reencrypt_flag: bool, root_flag: bool) -> None:
    """Make a new data key current (retired keys only decrypt)."""
    out, context = start(ctx)
    options = ops.RotateOptions(reencrypt_flag, root_flag)
    with out.progress("re-encrypt", unit="packs") if reencrypt_flag else nullcontext():
        rotation = ops.key_rotate(context, options)
    if rotation.root is not None:
        out.show(rotation.root, _print_root)
    if rotation.reencrypt is not None:
        out.show(rotation.reencrypt, _print_reencrypt)
    elif rotation.root is None:
        if out.json:
            out.emit_json({"message_type": "rotated", "current": rotation.current})
        else:
            out.print(f"data key {rotation.current} is now current; older keys only decrypt")


def _print_root(out: Output, rotated: ops.RootRotationSummary) -> None:
    skipped = (
        f"; left {counted(len(rotated.slots_skipped), 'malformed or unauthenticated slot')} "
        f"as they were: {', '.join(s[:8] for s in rotated.slots_skipped)}"
        if rotated.slots_skipped
        else ""
    )
    out.print(
        f"{'finished interrupted' if rotated.resumed else 'rotated'} keyring key: "
        f"{counted(len(rotated.slots_rewrapped), 'slot')} re-wrapped, keyring version "
        f"{rotated.keyring_version}, data key {rotated.data_key} current, "
        f"config re-signed{skipped}; re-issue agent credentials ('keyark agent add')"
    )


def _print_reencrypt(out: Output, summary: ops.ReencryptSummary) -> None:
    out.print(
        f"re-encrypted under {summary.target_key}: {counted(summary.packs_rewritten, 'pack')} "
        f"({counted(summary.blobs_rewritten, 'blob')}), "
        f"{counted(summary.snapshots_rewritten, 'snapshot')}; "
        f"deleted {counted(summary.packs_deleted, 'old pack')}, "
        f"{counted(summary.session_keys_deleted, 'session key')}; "
        f"removed retired keys {', '.join(summary.retired_keys_removed) or '(none)'} "
        f"in {summary.duration_seconds:.2f}s"
    )


@key_group.command("status")
@click.pass_context
def status_command(ctx: click.Context) -> None:
    """Show each data-key epoch and when rotation is due."""
    out, context = start(ctx)
    status = ops.key_status(context, ops.KeyStatusOptions())
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
