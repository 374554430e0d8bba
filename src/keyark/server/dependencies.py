"""FastAPI dependencies of routes and pages: who sends a request, and may they.

``principal_of`` asks the app's :class:`~keyark.server.security.Authenticator`
(``app.state.auth``) who sent the request (401 when nobody, 429 when rate limited) and,
for state-changing methods, checks the CSRF token of a session; ``require(permission)``
is a dependency that also checks the principal's role (403).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request  # at run time: FastAPI reads the annotations

from keyark.access.permissions import Permission, Principal
from keyark.errors import AuthenticationError, ForbiddenError

if TYPE_CHECKING:
    from keyark.server.security import Authenticator
    from keyark.server.state import ServerState

#: Methods that change state: a session-authenticated request must carry its CSRF token.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def authenticator_of(request: Request) -> Authenticator:
    """The app's authenticator."""
    auth: Authenticator = request.app.state.auth
    return auth


def state_of(request: Request) -> ServerState:
    """The app's :class:`~keyark.server.state.ServerState`."""
    state: ServerState = request.app.state.keyark
    return state


def principal_of(request: Request) -> Principal:
    """The request's principal; 401 (``AuthenticationError``) when anonymous, 403
    (``CsrfError``) for a state-changing session request without its CSRF token."""
    auth = authenticator_of(request)
    principal = auth.authenticate(request)
    if principal is None:
        raise AuthenticationError("this request needs an API token or a login session")
    request.state.principal = principal
    if request.method in UNSAFE_METHODS:
        auth.require_csrf(request)
    return principal


def require(permission: Permission) -> Callable[[Request], Principal]:
    """A dependency: the request's principal, 403 unless its role holds ``permission``."""

    def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if not principal.can(permission):
            raise ForbiddenError(
                f"{principal.name} ({principal.role}) lacks the {permission} permission"
            )
        return principal

    return dependency


__all__ = ["UNSAFE_METHODS", "authenticator_of", "principal_of", "require", "state_of"]
