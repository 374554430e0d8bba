"""``keyark agent``: write-only backup agents."""

from __future__ import annotations

from pathlib import Path

import click

from keyark import agents
from keyark.cli.render import Output
from keyark.cli.settings import global_options, settings_of


@click.group("agent")
def command() -> None:
    """Manage write-only backup agents."""


@command.command("add")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Credential file.")
@click.option("--rsa", is_flag=True, help="Use RSA-OAEP-4096 for the recipient key (first agent).")
@global_options
@click.pass_context
def add(ctx: click.Context, name: str, out: str, rsa: bool) -> None:
    """Register agent NAME and write its credential (0600) to --out."""
    settings = settings_of(ctx)
    output = Output(settings)
    repo = settings.open_repository()
    try:
        info = agents.add_agent(
            repo, name, Path(out), rsa=rsa, retry_lock=settings.retry_lock_seconds()
        )
    finally:
        repo.close()
    if output.json:
        output.emit_json(info.to_dict())
    else:
        output.print(
            f"agent {info.name} added; credential written to {out} (keep it secret: "
            "it can write backups but read nothing)"
        )


@command.command("list")
@global_options
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """List registered agents."""
    settings = settings_of(ctx)
    output = Output(settings)
    repo = settings.open_repository()
    try:
        found = agents.list_agents(repo)
    finally:
        repo.close()
    if output.json:
        output.emit_json([info.to_dict() for info in found])
        return
    output.table(
        ["Name", "Created", "Revoked", "Public key"],
        [(i.name, i.created, i.revoked or "", i.public_key[:16]) for i in found],
    )


@command.command("revoke")
@click.argument("name")
@global_options
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke agent NAME: snapshots it signs from now on are flagged."""
    settings = settings_of(ctx)
    output = Output(settings)
    repo = settings.open_repository()
    try:
        info = agents.revoke_agent(repo, name, retry_lock=settings.retry_lock_seconds())
    finally:
        repo.close()
    if output.json:
        output.emit_json(info.to_dict())
    else:
        output.print(
            f"agent {info.name} revoked at {info.revoked}; consider "
            "'keyark key rotate --reencrypt' if its host was compromised"
        )
