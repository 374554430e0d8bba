"""Authentication for the server: API tokens, dashboard users and sessions, CSRF, TOTP,
rate limits and lockout, LDAP (:mod:`keyark.access` underneath).

:func:`make_authenticator` builds the app's :class:`~keyark.server.security.Authenticator`
from the state directory and the config's ``server:`` section; :data:`router` holds the
JSON login routes (``/api/v1/session``) that ``create_app`` includes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from keyark.access.ldap import LdapSettings
    from keyark.config.document import KeyarkConfig
    from keyark.server.auth.authenticator import ServerAuthenticator


def make_authenticator(
    state_dir: Path,
    *,
    tls: bool,
    ldap: LdapSettings | None = None,
    config: KeyarkConfig | None = None,
) -> ServerAuthenticator:
    """The server's authenticator over the token and user store (``config``'s
    ``server.database`` when set, else ``state_dir``'s SQLite), with the
    limits, lockout and LDAP directory of ``config``'s ``server:`` section (``ldap`` given
    here wins); a lockout is recorded in the audit log of ``config``'s repositories."""
    from keyark import ops
    from keyark.server.auth.authenticator import ServerAuthenticator
    from keyark.server.auth.settings import access_policy, ldap_settings, lockout_recorder

    section = None if config is None else config.server
    return ServerAuthenticator(
        state_dir,
        tls=tls,
        policy=access_policy(section),
        ldap=ldap if ldap is not None else ldap_settings(section),
        on_lockout=lockout_recorder(config),
        database=ops.access_database(config, state_dir),
    )


def __getattr__(name: str) -> Any:
    """``router``: the login routes, imported on first use (FastAPI loads with them)."""
    if name == "router":
        from keyark.server.auth.routes import router

        return router
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["make_authenticator", "router"]
