"""``keyark agent``: write-only backup agents."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output, printable, stored_time
from keyark.cli.settings import global_options, settings_of
from keyark.cli.verb import start


@click.group("agent")
def command() -> None:
    """Manage write-only backup agents."""


@command.command("add")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Credential file.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="HOST",
    help="Host name the agent may claim (repeatable; default: NAME).",
)
@click.option("--rsa", is_flag=True, help="Use RSA-OAEP-4096 for the recipient key (first agent).")
@global_options
@click.pass_context
def add(ctx: click.Context, name: str, out: str, hosts: tuple[str, ...], rsa: bool) -> None:
    """Register agent NAME for --host names and write its credential (0600) to --out.

    Snapshots the agent writes for any other host are flagged and never selected.
    """
    output, context = start(ctx)
    info = ops.agent_add(context, ops.AgentAddOptions(name, out, list(hosts), rsa))
    if output.json:
        output.emit_json(info.to_dict())
    else:
        output.print(
            f"agent {printable(info.name)} added for host(s) "
            f"{', '.join(printable(h) for h in info.hosts)}; credential written to {out} "
            "(keep it secret: it can write backups but read nothing)"
        )


@command.command("list")
@global_options
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """List registered agents."""
    settings = settings_of(ctx)
    output = Output(settings)
    found = ops.agent_list(settings.operation_context(output.event), ops.AgentListOptions()).agents
    if output.json:
        output.emit_json([info.to_dict() for info in found])
        return
    output.table(
        ["Name", "Hosts", "Created", "Revoked", "Public key"],
        [
            (
                printable(i.name),
                ",".join(printable(h) for h in i.hosts),
                printable(stored_time(i.created)),
                printable(stored_time(i.revoked or "")),
                i.public_key[:16],
            )
            for i in found
        ],
    )


@command.command("revoke")
@click.argument("name")
@global_options
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke agent NAME: only its snapshots trusted now stay trusted.

    Every other snapshot it wrote or writes is flagged, whatever time it claims.
    """
    output, context = start(ctx)
    info = ops.agent_revoke(context, ops.AgentRevokeOptions(name))
    if output.json:
        output.emit_json(info.to_dict())
    else:
        output.print(
            f"agent {printable(info.name)} revoked at {info.revoked}; {info.accepted} of its "
            "snapshots stay trusted; consider 'keyark key rotate --root --reencrypt' if its "
            "host was compromised"
        )
