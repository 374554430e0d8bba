"""``keyark server``: the HTTP server's API tokens (``token create|list|revoke``) and
dashboard users (``user add|list|remove|passwd``).

The store is the control database ``keyark serve`` uses: the config's ``server.database``
(PostgreSQL, shared by several servers) when set, else ``state.db`` in its state directory
(the config's ``scheduler.state_dir``, else ``KEYARK_STATE_DIR`` or the default). A new
token and a TOTP enrolment URI are printed once; passwords come from ``--password-file``,
``KEYARK_NEW_PASSWORD`` or a prompt, never from the command line.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from keyark import ops
from keyark.cli.config_option import config_file_given, config_option
from keyark.cli.render import optional_time
from keyark.cli.verb import start, start_without_repository

if TYPE_CHECKING:
    from keyark.cli.render import Output
    from keyark.config.document import KeyarkConfig

TOKEN_COLUMNS = ("Name", "Role", "Status", "Created", "Expires", "Last used")
USER_COLUMNS = ("Name", "Role", "TOTP", "Created")
ROLES = ("viewer", "auditor", "operator", "admin")


@click.group("server")
@config_option
def command() -> None:
    """Manage the HTTP server's API tokens and dashboard users."""


@command.group("token")
@config_option
def token() -> None:
    """Create, list and revoke API tokens."""


@command.group("user")
@config_option
def user() -> None:
    """Add, list and remove dashboard users."""


def _config(ctx: click.Context) -> KeyarkConfig | None:
    """The config file given or found (its state directory holds the store), or None."""
    from keyark.config.loading import find_config_file, load_config_file

    path = find_config_file(config_file_given(ctx))
    return None if path is None else load_config_file(path)


def _shown_once(out: Output, heading: str, secret: str) -> None:
    """A secret shown this once: ``heading`` on stderr, the secret alone on stdout."""
    click.echo(heading, err=True)
    out.result(secret)


def _issued(out: Output, issued: ops.TokenIssued | ops.EnrollTokenIssued, heading: str) -> None:
    """A new token: its document with ``--json``, else shown this once under ``heading``."""
    if out.json:
        out.emit_json(issued.to_dict())
    else:
        _shown_once(out, heading, issued.token)


@token.command("create")
@click.option("--name", required=True, help="The token's name (letters, digits, . _ - @).")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the token may do.")
@click.option(
    "--expires",
    metavar="DURATION",
    help="Expire after this long (90d, 12h); default: never.",
)
@config_option
@click.pass_context
def token_create(ctx: click.Context, name: str, role: str, expires: str | None) -> None:
    """Create an API token and print it (once: only its hash is kept)."""
    out, context = start_without_repository(ctx)
    lifetime = None
    if expires is not None:
        lifetime = timedelta(seconds=ops.parse_seconds(expires, "token lifetime"))
    options = ops.TokenCreateOptions(name, role, lifetime, config=_config(ctx))
    issued = ops.server_token_create(context, options)
    until = f", expires {optional_time(issued.info.expires)}" if issued.info.expires else ""
    _issued(out, issued, f"token {name!r} ({role}{until}); shown only this once:")


@token.command("list")
@click.option("--revoked", is_flag=True, help="Also list revoked tokens.")
@config_option
@click.pass_context
def token_list(ctx: click.Context, revoked: bool) -> None:
    """List API tokens: name, role, status, created, expires, last used (never the token)."""
    out, context = start_without_repository(ctx)
    listed = ops.server_token_list(context, ops.TokenListOptions(revoked, config=_config(ctx)))
    out.listing_of(listed.tokens, TOKEN_COLUMNS, _token_row, "no API tokens")


def _token_row(t: ops.TokenInfo) -> list[str]:
    return [
        t.name,
        str(t.role),
        t.status(),
        optional_time(t.created),
        optional_time(t.expires),
        optional_time(t.last_used),
    ]


@token.command("revoke")
@click.argument("name")
@config_option
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke API token NAME (refused from its next request on)."""
    out, context = start_without_repository(ctx)
    options = ops.TokenRevokeOptions(name, config=_config(ctx))
    out.outcome(ops.server_token_revoke(context, options), f"token {name!r} revoked")


#: What to say when no password source has one and there is no terminal to ask on.
NO_PASSWORD = (
    "no password given: use --new-password-file, KEYARK_NEW_PASSWORD or "  # noqa: S105
    "KEYARK_NEW_PASSWORD_FILE (no terminal to prompt on)"
)


def _new_password(name: str, password_file: str | None) -> str:
    """The new user password: ``--new-password-file``, ``KEYARK_NEW_PASSWORD``,
    ``KEYARK_NEW_PASSWORD_FILE``, else a confirmed prompt (never a flag's value)."""
    import os

    from keyark.config.secrets import SecretRef, resolve_secret

    sources = [SecretRef(file=password_file)] if password_file else []
    sources.append(SecretRef(env="KEYARK_NEW_PASSWORD"))
    if os.environ.get("KEYARK_NEW_PASSWORD_FILE"):
        sources.append(SecretRef(file=os.environ["KEYARK_NEW_PASSWORD_FILE"]))
    prompt = SecretRef(prompt=f"new password for {name}", confirm=True, no_terminal=NO_PASSWORD)
    return resolve_secret([*sources, prompt]).get_secret_value().decode()


_PASSWORD_FILE = click.option(
    "--new-password-file",
    "new_password_file",
    metavar="FILE",
    help="Read the password from FILE (else KEYARK_NEW_PASSWORD(_FILE), else a prompt).",
)


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--totp", is_flag=True, help="Require a one-time code (TOTP) at login.")
@_PASSWORD_FILE
@config_option
@click.pass_context
def user_add(
    ctx: click.Context, name: str, role: str, totp: bool, new_password_file: str | None
) -> None:
    """Add dashboard user NAME (with --totp: print its enrolment URI once)."""
    out, context = start_without_repository(ctx)
    options = ops.UserAddOptions(
        name, role, _new_password(name, new_password_file), totp, config=_config(ctx)
    )
    added = ops.server_user_add(context, options)
    if out.json:
        out.emit_json(added.to_dict())
        return
    out.print(f"user {name!r} added ({role})")
    if added.totp_uri:
        _shown_once(out, "add this to an authenticator app (shown only this once):", added.totp_uri)


@user.command("list")
@config_option
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List dashboard users: name, role, TOTP, created."""
    out, context = start_without_repository(ctx)
    listed = ops.server_user_list(context, ops.UserListOptions(config=_config(ctx)))
    out.listing_of(listed.users, USER_COLUMNS, _user_row, "no dashboard users")


def _user_row(u: ops.UserInfo) -> list[str]:
    return [u.name, str(u.role), "yes" if u.totp else "no", optional_time(u.created)]


@user.command("remove")
@click.argument("name")
@config_option
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Remove dashboard user NAME and end its sessions."""
    out, context = start_without_repository(ctx)
    options = ops.UserRemoveOptions(name, config=_config(ctx))
    out.outcome(ops.server_user_remove(context, options), f"user {name!r} removed")


@user.command("passwd")
@click.argument("name")
@_PASSWORD_FILE
@config_option
@click.pass_context
def user_passwd(ctx: click.Context, name: str, new_password_file: str | None) -> None:
    """Give dashboard user NAME a new password and end its sessions."""
    out, context = start_without_repository(ctx)
    password = _new_password(name, new_password_file)
    options = ops.UserPasswdOptions(name, password, config=_config(ctx))
    changed = ops.server_user_passwd(context, options)
    out.outcome(changed, f"password of user {name!r} changed")


@command.group("agent")
@config_option
def agent() -> None:
    """Enrolment tokens for agents (hosts that back up write-only)."""


@agent.command("enroll-token")
@click.option("--host", required=True, help="The host the token enrols.")
@click.option(
    "--expires", metavar="DURATION", default="1h", show_default=True, help="Expire after this long."
)
@config_option
@click.pass_context
def agent_enroll_token(ctx: click.Context, host: str, expires: str) -> None:
    """Issue a one-time token that enrols --host as a write-only agent (printed once)."""
    out, context = start_without_repository(ctx)
    lifetime = timedelta(seconds=ops.parse_seconds(expires, "enrolment token lifetime"))
    options = ops.EnrollTokenOptions(host, lifetime, config=_config(ctx))
    issued = ops.server_agent_enroll_token(context, options)
    until = optional_time(issued.info.expires)
    _issued(
        out, issued, f"enrolment token for host {host!r}, expires {until}; shown only this once:"
    )


AGENT_COLUMNS = ("Host", "Agent", "Enrolled", "Last report", "Last success", "Version")


@command.command("agents")
@config_option
@click.pass_context
def agents(ctx: click.Context) -> None:
    """List the enrolled hosts: agent, enrolment, last report, last success, version."""
    out, context = start_without_repository(ctx)
    listed = ops.server_agents(context, ops.FleetListOptions(config=_config(ctx)))
    out.listing_of(listed.agents, AGENT_COLUMNS, _agent_row, "no enrolled agents")


def _agent_row(a: ops.FleetAgent) -> list[str]:
    return [a.host, a.agent, a.enrolled, a.last_report or "", a.last_success or "", a.version or ""]


@agent.command("revoke")
@click.argument("host")
@config_option
@click.pass_context
def agent_revoke(ctx: click.Context, host: str) -> None:
    """Revoke enrolled HOST: its agent (as 'agent revoke') and its report token."""
    out, context = start(ctx)
    info = ops.server_agent_revoke(context, ops.FleetRevokeOptions(host, config=_config(ctx)))
    out.outcome(info, f"host {host!r} (agent {info.name}) revoked")
