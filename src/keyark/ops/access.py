"""The HTTP server's API tokens and dashboard users: ``server token create|list|revoke``
and ``server user add|list|remove|passwd``.

The stores live in :mod:`keyark.access`, in the control database (:func:`access_database`:
the config's ``server.database`` when set, shared by several servers; else ``state.db`` in
the state directory: the config's ``scheduler.state_dir``, else the default state
directory, as ``keyark serve`` uses). A new token, and a new user's TOTP enrolment URI,
are in the result once and never in an event, the audit log or a later listing
(``secret_result``).

None of them writes to a repository (``mutates=False``); each change is recorded in the
audit log of every repository of the config given (:func:`_record`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyark.access.permissions import Role as Role
from keyark.access.tokens import TokenInfo as TokenInfo
from keyark.access.users import UserInfo as UserInfo
from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.ops.catalogue import operation
from keyark.ops.repository import secret_option

if TYPE_CHECKING:
    from keyark.access.tokens import TokenStore
    from keyark.access.users import UserStore
    from keyark.control.database import ControlDatabase

#: The role names, least to most.
ROLE_NAMES: tuple[str, ...] = tuple(role.value for role in Role)


def access_state_dir(config: KeyarkConfig | None = None, state_dir: Path | None = None) -> Path:
    """Where the token and user store lives: ``state_dir``, else the config's
    ``scheduler.state_dir``, else the default state directory (the server's choice too)."""
    from keyark.state.runs import default_state_dir

    if state_dir is not None:
        return state_dir
    if config is not None and config.scheduler.state_dir:
        return Path(config.scheduler.state_dir).expanduser()
    return default_state_dir()


def access_database(
    config: KeyarkConfig | None = None, state_dir: Path | None = None
) -> ControlDatabase:
    """The control database of the server's users, tokens, sessions and fleet: the config's
    ``server.database`` (PostgreSQL, several servers) when set, else SQLite ``state.db`` in
    the state directory (:func:`access_state_dir`)."""
    from keyark.control.database import open_database

    url = None if config is None else config.server.database
    return open_database(access_state_dir(config, state_dir), url)


def parse_role(text: str) -> Role:
    """A role by name; a UsageError naming the roles otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise UsageError(f"unknown role {text!r}; the roles are: {', '.join(ROLE_NAMES)}") from None


def _record(options: _StoreOptions, ctx: OperationContext, operation: str, what: str) -> None:
    """Record a change of the store in the audit log of the config's repositories (held
    until each one's next keyed write); a record that cannot be written is a warning."""
    if options.config is None:
        return
    from keyark.audit.hook import record_event
    from keyark.audit.policy import AuditPolicy
    from keyark.events import Code

    policy = AuditPolicy.from_section(options.config.audit)
    locations = [entry.url for entry in options.config.repositories.values()]
    try:
        record_event(policy, operation, locations, ctx.actor.to_dict(), {"reason": what})
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        ctx.events.warn(
            Code.AUDIT_UNWRITTEN, f"the audit record of {operation} was not written ({reason})"
        )


@dataclass(frozen=True)
class _StoreOptions:
    #: The config whose ``scheduler.state_dir`` holds the store (None: the default place).
    config: KeyarkConfig | None = field(default=None, kw_only=True)
    #: The state directory itself (wins over the config's).
    state_dir: Path | None = field(default=None, kw_only=True)

    def directory(self) -> Path:
        """The state directory in use."""
        return access_state_dir(self.config, self.state_dir)

    def database(self) -> ControlDatabase:
        """The control database in use (:func:`access_database`)."""
        return access_database(self.config, self.state_dir)

    def token_store(self) -> TokenStore:
        """The server's API tokens, in the control database in use."""
        from keyark.access.tokens import TokenStore

        return TokenStore(self.directory(), database=self.database())

    def user_store(self) -> UserStore:
        """The dashboard users, in the control database in use."""
        from keyark.access.users import UserStore

        return UserStore(self.directory(), database=self.database())


@dataclass(frozen=True)
class TokenCreateOptions(_StoreOptions):
    """The token's name, role and lifetime (None: it never expires)."""

    name: str
    role: str
    lifetime: timedelta | None = None


@dataclass
class TokenIssued:
    """The new token's listing and the token itself (shown this once)."""

    info: TokenInfo
    token: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "server_token", **self.info.to_dict(), "token": self.token}


@operation(
    "server token create",
    options=TokenCreateOptions,
    result=TokenIssued,
    mutates=False,
    secret_result=True,
)
def server_token_create(ctx: OperationContext, options: TokenCreateOptions) -> TokenIssued:
    """Create an API token for the server (shown once; only its Argon2id hash is kept)."""
    role = parse_role(options.role)
    issued = options.token_store().create(options.name, role, lifetime=options.lifetime)
    _record(options, ctx, "server token create", f"token {options.name} ({role})")
    return TokenIssued(issued.info, issued.token)


@dataclass(frozen=True)
class TokenListOptions(_StoreOptions):
    """Also list revoked tokens."""

    revoked: bool = False


@dataclass
class TokenList:
    """The tokens (never the tokens themselves), oldest first."""

    tokens: list[TokenInfo]

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "server_tokens", "tokens": [t.to_dict() for t in self.tokens]}


@operation("server token list", options=TokenListOptions, result=TokenList, mutates=False)
def server_token_list(ctx: OperationContext, options: TokenListOptions) -> TokenList:
    """List the server's API tokens: name, role, created, expires, last used."""
    return TokenList(options.token_store().tokens(include_revoked=options.revoked))


@dataclass(frozen=True)
class TokenRevokeOptions(_StoreOptions):
    """The token to revoke, by name."""

    name: str


@dataclass
class TokenRevoked:
    """The revoked token's listing."""

    info: TokenInfo

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "server_token_revoked", **self.info.to_dict()}


@operation("server token revoke", options=TokenRevokeOptions, result=TokenRevoked, mutates=False)
def server_token_revoke(ctx: OperationContext, options: TokenRevokeOptions) -> TokenRevoked:
    """Revoke an API token (refused from its next request on)."""
    revoked = options.token_store().revoke(options.name)
    _record(options, ctx, "server token revoke", f"token {options.name}")
    return TokenRevoked(revoked)


@dataclass(frozen=True)
class UserAddOptions(_StoreOptions):
    """The user's name, role, password, and whether logins need a TOTP code."""

    name: str
    role: str
    password: str = secret_option()
    totp: bool = False


@dataclass
class UserAdded:
    """The new user, and with TOTP the ``otpauth://`` URI to enrol (shown this once)."""

    info: UserInfo
    totp_uri: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "server_user", **self.info.to_dict(), "totp_uri": self.totp_uri}


@operation(
    "server user add", options=UserAddOptions, result=UserAdded, mutates=False, secret_result=True
)
def server_user_add(ctx: OperationContext, options: UserAddOptions) -> UserAdded:
    """Add a dashboard user (with TOTP: its enrolment URI is shown once)."""
    role = parse_role(options.role)
    added = options.user_store().add(options.name, role, options.password, with_totp=options.totp)
    totp = " with TOTP" if options.totp else ""
    _record(options, ctx, "server user add", f"user {options.name} ({role}){totp}")
    return UserAdded(added.info, added.totp_uri)


@dataclass(frozen=True)
class UserListOptions(_StoreOptions):
    """(Nothing to choose: every user.)"""


@dataclass
class UserList:
    """The dashboard users, by name."""

    users: list[UserInfo]

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "server_users", "users": [u.to_dict() for u in self.users]}


@operation("server user list", options=UserListOptions, result=UserList, mutates=False)
def server_user_list(ctx: OperationContext, options: UserListOptions) -> UserList:
    """List the dashboard users: name, role, TOTP, created."""
    return UserList(options.user_store().users())


@dataclass(frozen=True)
class UserRemoveOptions(_StoreOptions):
    """The user to remove, by name."""

    name: str


@dataclass
class UserChanged:
    """The user removed or given a new password (its sessions ended)."""

    info: UserInfo
    change: str

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "server_user_changed", "change": self.change, **self.info.to_dict()}


@operation("server user remove", options=UserRemoveOptions, result=UserChanged, mutates=False)
def server_user_remove(ctx: OperationContext, options: UserRemoveOptions) -> UserChanged:
    """Remove a dashboard user and end its sessions."""
    removed = options.user_store().remove(options.name)
    _record(options, ctx, "server user remove", f"user {options.name}")
    return UserChanged(removed, "removed")


@dataclass(frozen=True)
class UserPasswdOptions(_StoreOptions):
    """The user and the new password."""

    name: str
    password: str = secret_option()


@operation("server user passwd", options=UserPasswdOptions, result=UserChanged, mutates=False)
def server_user_passwd(ctx: OperationContext, options: UserPasswdOptions) -> UserChanged:
    """Give a dashboard user a new password and end its sessions."""
    changed = options.user_store().set_password(options.name, options.password)
    _record(options, ctx, "server user passwd", f"user {options.name}")
    return UserChanged(changed, "password")
