"""The contract between the server's routes and its authentication (:mod:`keyark.server.auth`).

``create_app`` keeps one :class:`Authenticator` as ``app.state.auth``; routes and pages
ask it who sent a request and whether a state-changing request carries its CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from keyark.access.permissions import Principal

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


@dataclass(frozen=True)
class Session:
    """A dashboard login: the principal, the opaque session id (cookie) and its CSRF token."""

    principal: Principal
    session_id: str
    csrf_token: str


class Authenticator(Protocol):
    """Who sends a request, logins, sessions, CSRF and rate limits."""

    def authenticate(self, request: Request) -> Principal | None:
        """The principal of ``request`` (an ``Authorization: Bearer`` API token or the session
        cookie), or None when it carries neither. A token or session that is unknown, expired
        or revoked raises ``AuthenticationError`` (401); too many requests from this token or
        client address raise ``RateLimitedError`` with ``retry_after`` seconds (429)."""
        ...

    def require_csrf(self, request: Request) -> None:
        """For a state-changing request (POST, PUT, PATCH, DELETE) authenticated by the session
        cookie: raise ``CsrfError`` (403) unless it carries the session's CSRF token (header
        ``X-CSRF-Token`` or form field ``csrf_token``). Requests with a bearer token pass."""
        ...

    def login(
        self, request: Request, username: str, password: str, totp: str | None = None
    ) -> Session:
        """Check a dashboard user's password (local user or LDAP bind) and TOTP code, rate
        limited per client address and user, locking the user out after repeated failures
        (audited); a new session. Raises ``AuthenticationError`` or ``RateLimitedError``."""
        ...

    def start_session(self, response: Response, session: Session) -> None:
        """Set the session cookie (HttpOnly, SameSite=Strict, Secure when served over TLS)
        and the CSRF cookie on ``response``."""
        ...

    def end_session(self, request: Request, response: Response) -> None:
        """Forget the request's session and clear its cookies."""
        ...

    def csrf_token(self, request: Request) -> str | None:
        """The CSRF token of the request's session (pages put it into their forms)."""
        ...


__all__ = ["Authenticator", "Session"]
