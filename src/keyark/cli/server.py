"""``keyark server``: the HTTP server's API tokens (``token create|list|revoke``) and
dashboard users (``user add|list|remove|passwd``).

The store is the control database ``keyark serve`` uses: the config's ``server.database``
(PostgreSQL, shared by several servers) when set, else ``state.db`` in its state directory
(the config's ``scheduler.state_dir``, else ``KEYARK_STATE_DIR`` or the default). A new
token and a TOTP enrolment URI are printed once; passwords come from ``--password-file``,
``KEYARK_NEW_PASSWORD`` or a prompt, never from the command line.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from keyark.cli.config_option import config_file_given, config_option
from keyark.cli.invocation import CANCEL
from keyark.cli.settings import global_options, settings_of

if TYPE_CHECKING:
    from keyark import ops
    from keyark.cli.render import Output
    from keyark.config.document import KeyarkConfig

TOKEN_COLUMNS = ("Name", "Role", "Status", "Created", "Expires", "Last used")
USER_COLUMNS = ("Name", "Role", "TOTP", "Created")
ROLES = ("viewer", "auditor", "operator", "admin")


@click.group("server")
@config_option
@global_options
def command() -> None:
    """Manage the HTTP server's API tokens and dashboard users."""


@command.group("token")
@config_option
@global_options
def token() -> None:
    """Create, list and revoke API tokens."""


@command.group("user")
@config_option
@global_options
def user() -> None:
    """Add, list and remove dashboard users."""


def _context(out: Output) -> ops.OperationContext:
    from keyark import ops
    from keyark.events import Events

    return ops.OperationContext(events=Events("", out.event), cancel=CANCEL.token)


def _config(ctx: click.Context) -> KeyarkConfig | None:
    """The config file given or found (its state directory holds the store), or None."""
    from keyark.config.loading import find_config_file, load_config_file

    path = find_config_file(config_file_given(ctx))
    return None if path is None else load_config_file(path)


def _when(moment: datetime | None) -> str:
    from keyark.cli.render import local_time

    return "" if moment is None else local_time(moment)


def _output(ctx: click.Context) -> Output:
    from keyark.cli.render import Output

    return Output(settings_of(ctx))


@token.command("create")
@click.option("--name", required=True, help="The token's name (letters, digits, . _ - @).")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the token may do.")
@click.option(
    "--expires",
    metavar="DURATION",
    help="Expire after this long (90d, 12h); default: never.",
)
@config_option
@global_options
@click.pass_context
def token_create(ctx: click.Context, name: str, role: str, expires: str | None) -> None:
    """Create an API token and print it (once: only its hash is kept)."""
    from keyark import ops

    out = _output(ctx)
    lifetime = None
    if expires is not None:
        lifetime = timedelta(seconds=ops.parse_seconds(expires, "token lifetime"))
    options = ops.TokenCreateOptions(name, role, lifetime, config=_config(ctx))
    issued = ops.server_token_create(_context(out), options)
    if out.json:
        out.emit_json(issued.to_dict())
        return
    until = f", expires {_when(issued.info.expires)}" if issued.info.expires else ""
    click.echo(f"token {name!r} ({role}{until}); shown only this once:", err=True)
    out.result(issued.token)


@token.command("list")
@click.option("--revoked", is_flag=True, help="Also list revoked tokens.")
@config_option
@global_options
@click.pass_context
def token_list(ctx: click.Context, revoked: bool) -> None:
    """List API tokens: name, role, status, created, expires, last used (never the token)."""
    from keyark import ops

    out = _output(ctx)
    listed = ops.server_token_list(
        _context(out), ops.TokenListOptions(revoked, config=_config(ctx))
    )
    rows = [
        [t.name, str(t.role), t.status(), _when(t.created), _when(t.expires), _when(t.last_used)]
        for t in listed.tokens
    ]
    _listing(out, [t.to_dict() for t in listed.tokens], TOKEN_COLUMNS, rows, "no API tokens")


@token.command("revoke")
@click.argument("name")
@config_option
@global_options
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke API token NAME (refused from its next request on)."""
    from keyark import ops

    out = _output(ctx)
    options = ops.TokenRevokeOptions(name, config=_config(ctx))
    _changed(
        out, ops.server_token_revoke(_context(out), options).to_dict(), f"token {name!r} revoked"
    )


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
    "password_file",
    metavar="FILE",
    help="Read the password from FILE (else KEYARK_NEW_PASSWORD(_FILE), else a prompt).",
)


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--totp", is_flag=True, help="Require a one-time code (TOTP) at login.")
@_PASSWORD_FILE
@config_option
@global_options
@click.pass_context
def user_add(
    ctx: click.Context, name: str, role: str, totp: bool, password_file: str | None
) -> None:
    """Add dashboard user NAME (with --totp: print its enrolment URI once)."""
    from keyark import ops

    out = _output(ctx)
    options = ops.UserAddOptions(
        name, role, _new_password(name, password_file), totp, config=_config(ctx)
    )
    added = ops.server_user_add(_context(out), options)
    if out.json:
        out.emit_json(added.to_dict())
        return
    out.print(f"user {name!r} added ({role})")
    if added.totp_uri:
        click.echo("add this to an authenticator app (shown only this once):", err=True)
        out.result(added.totp_uri)


@user.command("list")
@config_option
@global_options
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List dashboard users: name, role, TOTP, created."""
    from keyark import ops

    out = _output(ctx)
    listed = ops.server_user_list(_context(out), ops.UserListOptions(config=_config(ctx)))
    rows = [
        [u.name, str(u.role), "yes" if u.totp else "no", _when(u.created)] for u in listed.users
    ]
    _listing(out, [u.to_dict() for u in listed.users], USER_COLUMNS, rows, "no dashboard users")


@user.command("remove")
@click.argument("name")
@config_option
@global_options
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Remove dashboard user NAME and end its sessions."""
    from keyark import ops

    out = _output(ctx)
    options = ops.UserRemoveOptions(name, config=_config(ctx))
    _changed(
        out, ops.server_user_remove(_context(out), options).to_dict(), f"user {name!r} removed"
    )


@user.command("passwd")
@click.argument("name")
@_PASSWORD_FILE
@config_option
@global_options
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_file: str | None) -> None:
    """Give dashboard user NAME a new password and end its sessions."""
    from keyark import ops

    out = _output(ctx)
    options = ops.UserPasswdOptions(name, _new_password(name, password_file), config=_config(ctx))
    changed = ops.server_user_passwd(_context(out), options)
    _changed(out, changed.to_dict(), f"password of user {name!r} changed")


def _changed(out: Output, result: dict[str, Any], message: str) -> None:
    """The result document (``--json``) or the one-line message."""
    if out.json:
        out.emit_json(result)
    else:
        out.print(message)


def _listing(
    out: Output,
    documents: list[dict[str, Any]],
    columns: tuple[str, ...],
    rows: list[list[str]],
    empty: str,
) -> None:
    """A listing: its documents as one JSON list (``--json``), else a table (or ``empty``)."""
    if out.json:
        out.emit_json(documents)
        return
    out.table(columns, rows)
    if not rows:
        out.print(empty)


@command.group("agent")
@config_option
@global_options
def agent() -> None:
    """Enrolment tokens for agents (hosts that back up write-only)."""


@agent.command("enroll-token")
@click.option("--host", required=True, help="The host the token enrols.")
@click.option(
    "--expires", metavar="DURATION", default="1h", show_default=True, help="Expire after this long."
)
@config_option
@global_options
@click.pass_context
def agent_enroll_token(ctx: click.Context, host: str, expires: str) -> None:
    """Issue a one-time token that enrols --host as a write-only agent (printed once)."""
    from keyark import ops

    out = _output(ctx)
    lifetime = timedelta(seconds=ops.parse_seconds(expires, "enrolment token lifetime"))
    options = ops.EnrollTokenOptions(host, lifetime, config=_config(ctx))
    issued = ops.server_agent_enroll_token(_context(out), options)
    if out.json:
        out.emit_json(issued.to_dict())
        return
    click.echo(
        f"enrolment token for host {host!r}, expires {_when(issued.info.expires)}; "
        "shown only this once:",
        err=True,
    )
    out.result(issued.token)


AGENT_COLUMNS = ("Host", "Agent", "Enrolled", "Last report", "Last success", "Version")


@command.command("agents")
@config_option
@global_options
@click.pass_context
def agents(ctx: click.Context) -> None:
    """List the enrolled hosts: agent, enrolment, last report, last success, version."""
    from keyark import ops

    out = _output(ctx)
    listed = ops.server_agents(_context(out), ops.FleetListOptions(config=_config(ctx)))
    rows = [
        [a.host, a.agent, a.enrolled, a.last_report or "", a.last_success or "", a.version or ""]
        for a in listed.agents
    ]
    _listing(out, [a.to_dict() for a in listed.agents], AGENT_COLUMNS, rows, "no enrolled agents")


@agent.command("revoke")
@click.argument("host")
@config_option
@global_options
@click.pass_context
def agent_revoke(ctx: click.Context, host: str) -> None:
    """Revoke enrolled HOST: its agent (as 'agent revoke') and its report token."""
    from keyark import ops
    from keyark.cli.verb import start

    out, context = start(ctx)
    info = ops.server_agent_revoke(context, ops.FleetRevokeOptions(host, config=_config(ctx)))
    _changed(out, info.to_dict(), f"host {host!r} (agent {info.name}) revoked")
