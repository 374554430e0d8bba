"""``keyark key``: manage key slots."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.settings import global_options, new_passphrase, settings_of


@click.group("key")
def command() -> None:
    """Manage the repository's keys."""


@command.command("passwd")
@click.option("--kdf", "kdf_name", type=click.Choice(["argon2id", "pbkdf2"]), default="argon2id")
@global_options
@click.pass_context
def passwd(ctx: click.Context, kdf_name: str) -> None:
    """Change the passphrase (new one from KEYARK_NEW_PASSWORD or a prompt)."""
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    try:
        fresh = new_passphrase(settings)
        slot_id = ops.change_passphrase(
            repo, fresh, "pbkdf2-sha256" if kdf_name == "pbkdf2" else "argon2id"
        )
    finally:
        repo.close()
    if out.json:
        out.emit_json({"message_type": "passwd", "slot": slot_id})
    else:
        out.print(f"passphrase changed (new key slot {slot_id[:8]})")


@command.command("list")
@global_options
@click.pass_context
def list_keys(ctx: click.Context) -> None:
    """List key slots."""
    settings = settings_of(ctx)
    out = Output(settings)
    repo = settings.open_repository()
    try:
        found = ops.key_slots(repo)
        current = repo.slot.slot_id if repo.slot else ""
    finally:
        repo.close()
    if out.json:
        out.emit_json(
            [
                {
                    "id": s.slot_id,
                    "kind": s.kind,
                    "created": s.created,
                    "host": s.host,
                    "username": s.username,
                    "current": s.slot_id == current,
                }
                for s in found
            ]
        )
        return
    out.table(
        ["", "ID", "Kind", "Created", "Host", "User"],
        [
            (
                "*" if s.slot_id == current else "",
                s.slot_id[:8],
                s.kind,
                s.created,
                s.host,
                s.username,
            )
            for s in found
        ],
    )
