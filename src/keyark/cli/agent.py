"""``keyark agent``: write-only backup agents."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output, printable, stored_time
from keyark.cli.verb import start, start_without_repository

AGENT_COLUMNS = ("Name", "Hosts", "Created", "Revoked", "Public key")


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
@click.pass_context
def add(ctx: click.Context, name: str, out: str, hosts: tuple[str, ...], rsa: bool) -> None:
    """Register agent NAME for --host names and write its credential (0600) to --out.

    Snapshots the agent writes for any other host are flagged and never selected.
    """
    output, context = start(ctx)
    info = ops.agent_add(context, ops.AgentAddOptions(name, out, list(hosts), rsa))
    output.outcome(
        info,
        f"agent {printable(info.name)} added for host(s) "
        f"{', '.join(printable(h) for h in info.hosts)}; credential written to {out} "
        "(keep it secret: it can write backups but read nothing)",
    )


@command.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """List registered agents."""
    output, context = start(ctx)
    found = ops.agent_list(context, ops.AgentListOptions()).agents
    output.listing_of(found, AGENT_COLUMNS, _agent_row)


def _agent_row(i: ops.AgentInfo) -> tuple[str, ...]:
    return (
        printable(i.name),
        ",".join(printable(h) for h in i.hosts),
        printable(stored_time(i.created)),
        printable(stored_time(i.revoked or "")),
        i.public_key[:16],
    )


@command.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke agent NAME: only its snapshots trusted now stay trusted.

    Every other snapshot it wrote or writes is flagged, whatever time it claims.
    """
    output, context = start(ctx)
    info = ops.agent_revoke(context, ops.AgentRevokeOptions(name))
    output.outcome(
        info,
        f"agent {printable(info.name)} revoked at {info.revoked}; {info.accepted} of its "
        "snapshots stay trusted; consider 'keyark key rotate --root --reencrypt' if its "
        "host was compromised",
    )


#: Where an enrolled agent keeps its files.
_AGENT_DIRECTORY = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="The agent's files (default: agent/ in the state directory).",
)


@command.command("enroll")
@click.option("--server", required=True, metavar="URL", help="The server (https://HOST:PORT).")
@click.option(
    "--token-file",
    metavar="FILE",
    help="Read the one-time enrolment token from FILE (else KEYARK_ENROLL_TOKEN).",
)
@click.option(
    "--fingerprint",
    metavar="SHA256",
    help="Require this server certificate SHA-256 (default: pin the one presented).",
)
@_AGENT_DIRECTORY
@click.pass_context
def enroll(
    ctx: click.Context,
    server: str,
    token_file: str | None,
    fingerprint: str | None,
    directory: str | None,
) -> None:
    """Enrol this host with a keyark server: receive a write-only credential and the
    jobs the server assigns to this host; the server's certificate is pinned.
    """
    from pathlib import Path

    from keyark.config.secrets import SecretRef, resolve_secret

    output, context = start_without_repository(ctx)
    sources = [SecretRef(file=token_file)] if token_file else [SecretRef(env="KEYARK_ENROLL_TOKEN")]
    missing = "no enrolment token: use --token-file FILE or KEYARK_ENROLL_TOKEN"
    token = resolve_secret(sources, missing=missing).get_secret_value().decode().strip()
    options = ops.AgentEnrollOptions(
        server, token, Path(directory) if directory else None, fingerprint
    )
    enrolled = ops.agent_enroll(context, options)
    output.outcome(
        enrolled,
        f"enrolled as agent {printable(enrolled.agent)} for host "
        f"{printable(enrolled.host)}; config {enrolled.config} "
        f"({len(enrolled.jobs)} job(s)); server certificate SHA-256 {enrolled.fingerprint}",
    )


@command.command("run")
@click.argument("jobs", nargs=-1)
@_AGENT_DIRECTORY
@click.pass_context
def run_command(ctx: click.Context, jobs: tuple[str, ...], directory: str | None) -> None:
    """Run this enrolled host's jobs (default: all assigned) and report each to the server.

    The assigned config is pulled first when it changed; the server's certificate must be
    the one pinned at enrolment.
    """
    from pathlib import Path

    output, context = start_without_repository(ctx)
    options = ops.AgentSyncOptions(Path(directory) if directory else None, list(jobs))
    done = ops.agent_sync(context, options)
    output.show(done, _synced)
    ctx.exit(done.exit_code)


def _synced(out: Output, done: ops.AgentSync) -> None:
    """Whether the config changed, each job's status, and how many runs were reported."""
    if done.config_changed:
        out.print("assigned config updated")
    for job_run in done.runs:
        record = job_run.record
        out.print(f"{printable(record.job)}: {record.status}")
    out.print(f"{done.reported} of {len(done.runs)} run(s) reported")
