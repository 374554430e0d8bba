"""How every dashboard page is answered.

Who asks comes from the server's authenticator (a session cookie or an API token);
anonymous visitors are sent to the login page. A page needs one permission: a role
without it gets a 403 page (recorded as a refusal, like the API's). The page's data comes
from :class:`~keyark.server.state.ServerState` calls made for that principal; a core
error becomes an HTML page with its message, code and hint, and the API's status.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec
from urllib.parse import quote, urlsplit

from starlette.responses import RedirectResponse, Response

from keyark.access.permissions import Permission, Principal
from keyark.errors import AuthenticationError, ForbiddenError, KeyarkError, RateLimitedError
from keyark.server.dashboard.templating import templates
from keyark.server.dependencies import authenticator_of, state_of
from keyark.server.problems import status_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.templating import Jinja2Templates

    from keyark.server.state import ServerState

#: The navigation: path, label and the permission that shows it.
NAV: tuple[tuple[str, str, Permission], ...] = (
    ("/", "Overview", Permission.HEALTH),
    ("/alerts", "Alerts", Permission.HEALTH),
    ("/snapshots", "Snapshots", Permission.METADATA),
    ("/inventory", "Inventory", Permission.METADATA),
    ("/audit", "Audit log", Permission.AUDIT),
    ("/compliance", "Compliance", Permission.AUDIT),
    ("/keys", "Keys", Permission.ADMIN),
    ("/agents", "Agents", Permission.ADMIN),
)

#: The dashboard's wording of the hints a page may show (others show their code).
HINT_WORDS: dict[str, str] = {
    "authenticate": "Log in again.",
    "permission": "Ask an administrator for a role that holds this permission.",
    "retry_later": "Wait a moment, then try again.",
    "csrf_token": "Reload the page and send the form again.",
    "unlock": "Another process holds the repository's lock; try again when it has finished.",
}

#: Every page's headers: scripts, styles and images from this server only (the vendored
#: htmx and uPlot), no framing by other sites, no MIME sniffing, no referrer elsewhere.
PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

#: A page's query: what its route passes on to its :data:`Build` after the state and the
#: principal (a repository name, filter values).
Query = ParamSpec("Query")
#: A page's work: the data its template shows, from the state, for the principal and the
#: route's query.
Build = Callable[Concatenate["ServerState", Principal, Query], dict[str, Any]]
#: A route's work when it answers with its own response (a download, a redirect).
Respond = Callable[["ServerState", Principal], Response]


@cache
def renderer() -> Jinja2Templates:
    """The one template renderer of the dashboard."""
    return templates()


def to_login(request: Request) -> Response:
    """A redirect to the login page that comes back to this page (for a part of a page
    that htmx reloads: the whole page goes to the login page)."""
    page = request.headers.get("HX-Current-URL") if "HX-Request" in request.headers else None
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if page is not None:
        target = urlsplit(page).path or "/"
    location = f"/login?next={quote(target, safe='')}"
    if page is not None:
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def render(
    request: Request,
    template: str,
    data: dict[str, Any],
    principal: Principal | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """``template`` with ``data`` and what every page shows (navigation, CSRF token)."""
    nav = [] if principal is None else [item for item in NAV if principal.can(item[2])]
    csrf = None if principal is None else authenticator_of(request).csrf_token(request)
    context = {
        "principal": principal,
        "nav": [(path, label) for path, label, _ in nav],
        "here": request.url.path,
        "csrf": csrf,
        "can": {item.value: principal is not None and principal.can(item) for item in Permission},
        **data,
    }
    return renderer().TemplateResponse(
        request, template, context, status_code=status, headers={**PAGE_HEADERS, **(headers or {})}
    )


def error_page(request: Request, error: KeyarkError, principal: Principal | None) -> Response:
    """The error as a page: message, code and hint, with the API's status for it."""
    status = status_of(error)
    headers = None
    if isinstance(error, RateLimitedError):
        headers = {"Retry-After": str(max(1, int(error.retry_after)))}
    if status in (401, 403, 429):
        recorder = getattr(state_of(request), "record_refusal", None)
        if recorder is not None:
            recorder(request, error)
    hint = None if error.hint is None else str(error.hint)
    data = {
        "title": f"Error {status}",
        "status": status,
        "message": str(error),
        "code": error.code,
        "hint": hint,
        "hint_words": HINT_WORDS.get(hint or "", ""),
    }
    return render(request, "error.html", data, principal, status=status, headers=headers)


def answer(
    request: Request, permission: Permission, respond: Respond, *, csrf: bool = False
) -> Response:
    """Authenticate, check ``permission`` (and the CSRF token), then ``respond``."""
    principal: Principal | None = None
    try:
        auth = authenticator_of(request)
        principal = auth.authenticate(request)
        if principal is None:
            return to_login(request)
        if csrf:
            auth.require_csrf(request)
        if not principal.can(permission):
            raise ForbiddenError(f"this page needs the {permission} permission")
        return respond(state_of(request), principal)
    except AuthenticationError:
        return to_login(request)
    except KeyarkError as error:
        return error_page(request, error, principal)


def show(
    request: Request,
    template: str,
    permission: Permission,
    build: Build[Query],
    *args: Query.args,
    **kwargs: Query.kwargs,
) -> Response:
    """A page: the data of ``build(state, principal, *args, **kwargs)`` rendered with
    ``template``, for a principal allowed it."""

    def respond(state: ServerState, principal: Principal) -> Response:
        return render(request, template, build(state, principal, *args, **kwargs), principal)

    return answer(request, permission, respond)


__all__ = [
    "NAV",
    "PAGE_HEADERS",
    "Build",
    "Query",
    "Respond",
    "answer",
    "error_page",
    "render",
    "renderer",
    "show",
    "to_login",
]
