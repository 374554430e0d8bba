"""Authentication for the server: API tokens, dashboard users and sessions, CSRF, TOTP,
rate limits and lockout, LDAP (owned by the auth work; this stub is replaced)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from keyark.server.security import Authenticator


def make_authenticator(state_dir: Path, *, tls: bool, ldap: object | None = None) -> Authenticator:
    """The server's authenticator over the token and user store in ``state_dir``."""
    raise NotImplementedError("authentication is not built yet")


__all__ = ["make_authenticator"]
