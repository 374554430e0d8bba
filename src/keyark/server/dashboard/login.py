"""Logging in and out of the dashboard: the authenticator checks the password (and TOTP
code), rate-limits and locks out; this module only shows the form and sets the session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from keyark.access.permissions import Permission
from keyark.errors import AuthenticationError, KeyarkError, RateLimitedError
from keyark.server.dashboard.page import answer, render
from keyark.server.dependencies import authenticator_of

if TYPE_CHECKING:
    from keyark.access.permissions import Principal
    from keyark.server.state import ServerState

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _form(request: Request, next_page: str, *, error: str = "", status: int = 200) -> Response:
    data = {"title": "Log in", "next": safe_next(next_page), "error": error}
    headers = None
    return render(request, "login.html", data, None, status=status, headers=headers)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """The login form (a logged-in visitor goes on to the page asked for)."""
    try:
        if authenticator_of(request).authenticate(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    except KeyarkError:  # an expired session or a limited client: show the form
        pass
    return _form(request, next or "/")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Check the credentials; on success start the session and go on."""
    form = await request.form()
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    totp = str(form.get("totp") or "") or None
    next_page = str(form.get("next") or "/")

    def work() -> Response:
        auth = authenticator_of(request)
        try:
            session = auth.login(request, username, password, totp)
        except RateLimitedError as error:
            response = _form(request, next_page, error=str(error), status=429)
            response.headers["Retry-After"] = str(max(1, int(error.retry_after)))
            return response
        except AuthenticationError:
            return _form(request, next_page, error="wrong user name or password", status=401)
        response = RedirectResponse(safe_next(next_page), status_code=303)
        auth.start_session(response, session)
        return response

    return await run_in_threadpool(work)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session and show the login form."""
    await request.form()

    def respond(_state: ServerState, _principal: Principal) -> Response:
        response = RedirectResponse("/login", status_code=303)
        authenticator_of(request).end_session(request, response)
        return response

    return await run_in_threadpool(answer, request, Permission.HEALTH, respond, csrf=True)


__all__ = ["router", "safe_next"]
