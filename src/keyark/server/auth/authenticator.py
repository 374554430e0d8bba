"""The server's :class:`~keyark.server.security.Authenticator`: API tokens, dashboard logins
and sessions, CSRF, rate limits and lockout (over :mod:`keyark.access`).

- A request carries ``Authorization: Bearer kya_...`` (an API token) or the session
  cookie; every request spends one of its client address's and its principal's
  requests per minute (429 with ``Retry-After`` when none is left).
- A login spends one attempt of the client address and one of the login name (TOTP codes
  are part of the attempt), is refused while the name is locked, tries the local user
  first and then the LDAP directory, and locks the name after repeated failures: that
  lockout is recorded in the audit log.
- A session lives on the server (:class:`~keyark.access.sessions.SessionStore`); its
  cookie is HttpOnly, SameSite=Strict, and Secure (with the ``__Host-`` prefix) over TLS.
  A state-changing request authenticated by it must carry its CSRF token in the
  ``X-CSRF-Token`` header or the ``csrf_token`` form field; bearer requests need none.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyark.access.ldap import LdapDirectory, LdapSettings
from keyark.access.lockout import Lockout, LockoutPolicy
from keyark.access.permissions import Principal
from keyark.access.ratelimit import RateLimiter
from keyark.access.sessions import SessionStore, StoredSession
from keyark.access.tokens import TokenStore
from keyark.access.users import UserStore
from keyark.errors import AuthenticationError, CsrfError
from keyark.server.security import Session

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from keyark.access.store import ControlDatabase

log = logging.getLogger(__name__)

SESSION_COOKIE = "keyark_session"
CSRF_COOKIE = "keyark_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
#: Methods that change state (a session request must carry its CSRF token).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class AccessPolicy:
    """Limits and lifetimes (the config's ``server:`` section, or these defaults)."""

    requests_per_minute: int = 600
    logins_per_minute: int = 10
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    session_lifetime: timedelta = timedelta(hours=8)


#: Called with the login name when it gets locked (records the audit event).
LockoutListener = Callable[[str], None]


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <API token>'")
    return value.strip()


class ServerAuthenticator:
    """Tokens, users, sessions, CSRF, rate limits and lockout of one state directory."""

    def __init__(
        self,
        state_dir: Path,
        *,
        tls: bool,
        policy: AccessPolicy | None = None,
        ldap: LdapSettings | None = None,
        on_lockout: LockoutListener | None = None,
        database: ControlDatabase | None = None,
    ) -> None:
        """``database``: the control database (default: SQLite in ``state_dir``)."""
        self.policy = policy or AccessPolicy()
        self.tls = tls
        self.tokens = TokenStore(state_dir, database=database)
        self.users = UserStore(state_dir, database=database)
        self.sessions = SessionStore(state_dir, self.policy.session_lifetime, database=database)
        self.lockout = Lockout(state_dir, self.policy.lockout, database=database)
        self.directory = None if ldap is None else LdapDirectory(ldap)
        self._requests = RateLimiter(self.policy.requests_per_minute)
        self._logins = RateLimiter(self.policy.logins_per_minute)
        self._on_lockout = on_lockout
        prefix = "__Host-" if tls else ""
        self.session_cookie = prefix + SESSION_COOKIE
        self.csrf_cookie = prefix + CSRF_COOKIE

    # ----------------------------------------------------------------- requests
    def authenticate(self, request: Request) -> Principal | None:
        """The request's principal (bearer token or session cookie), None when anonymous;
        AuthenticationError (401) for a bad one, RateLimitedError (429) when over the limit."""
        self._requests.check(f"address:{_client_address(request)}")
        token = _bearer(request)
        if token is not None:
            principal = self.tokens.authenticate(token)
        else:
            session = self._session(request)
            if session is None:
                return None
            principal = session.principal
        self._requests.check(principal.name)
        request.state.principal = principal
        return principal

    def _session(self, request: Request) -> StoredSession | None:
        cached: StoredSession | None = getattr(request.state, "keyark_session", None)
        if cached is not None:
            return cached
        session_id = request.cookies.get(self.session_cookie)
        if not session_id:
            return None
        session = self.sessions.lookup(session_id)
        if session is None:
            raise AuthenticationError("the login session has ended; log in again")
        request.state.keyark_session = session
        return session

    def require_csrf(self, request: Request) -> None:
        """CsrfError (403) for a state-changing session request without its CSRF token."""
        if request.method not in UNSAFE_METHODS or "authorization" in request.headers:
            return
        session = self._session(request)
        if session is None:
            return
        given = request.headers.get(CSRF_HEADER) or _form_field(request, CSRF_FIELD)
        if not given or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
            raise CsrfError("this request lacks the login session's CSRF token")

    def csrf_token(self, request: Request) -> str | None:
        """The CSRF token of the request's session (None: no session)."""
        try:
            session = self._session(request)
        except AuthenticationError:
            return None
        return None if session is None else session.csrf_token

    # ----------------------------------------------------------------- logins
    def login(
        self, request: Request, username: str, password: str, totp: str | None = None
    ) -> Session:
        """A new session when ``username``'s password (and TOTP code) is right."""
        self._logins.check(f"login-address:{_client_address(request)}", "login attempts")
        self._logins.check(f"login-user:{username}", "login attempts")
        self.lockout.check(username)
        try:
            principal = self._verify(username, password, totp)
        except AuthenticationError:
            if self.lockout.failed(username):
                log.warning("login name %r locked after repeated failed logins", username)
                if self._on_lockout is not None:
                    self._on_lockout(username)
            raise
        self.lockout.succeeded(username)
        previous = request.cookies.get(self.session_cookie)
        if previous:  # a login never keeps a session id it did not make (no fixation)
            self.sessions.end(previous)
        stored = self.sessions.create(principal)
        request.state.keyark_session = stored
        return Session(principal, stored.session_id, stored.csrf_token)

    def _verify(self, username: str, password: str, totp: str | None) -> Principal:
        if self.users.known(username) or self.directory is None:
            return self.users.verify(username, password, totp)
        return self.directory.authenticate(username, password)

    def start_session(self, response: Response, session: Session) -> None:
        """Set the session cookie (HttpOnly) and the CSRF cookie (readable by the page)."""
        seconds = int(self.policy.session_lifetime.total_seconds())
        common: dict[str, Any] = {
            "max_age": seconds,
            "path": "/",
            "secure": self.tls,
            "samesite": "strict",
        }
        response.set_cookie(self.session_cookie, session.session_id, httponly=True, **common)
        response.set_cookie(self.csrf_cookie, session.csrf_token, httponly=False, **common)

    def end_session(self, request: Request, response: Response) -> None:
        """Forget the request's session and clear both cookies."""
        session_id = request.cookies.get(self.session_cookie)
        if session_id:
            self.sessions.end(session_id)
        for name in (self.session_cookie, self.csrf_cookie):
            response.delete_cookie(name, path="/", secure=self.tls, samesite="strict")


def _form_field(request: Request, name: str) -> str | None:
    """A field of the request's form, when the route parsed it (or it can be parsed from
    this worker thread)."""
    form = getattr(request, "_form", None)
    if form is None:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            return None
        import anyio.from_thread

        async def parse() -> Any:
            return await request.form()

        try:
            form = anyio.from_thread.run(parse)
        except RuntimeError:  # on the event loop itself: the caller must parse it first
            return None
    value = form.get(name)
    return value if isinstance(value, str) else None


__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AccessPolicy",
    "LockoutListener",
    "ServerAuthenticator",
]
