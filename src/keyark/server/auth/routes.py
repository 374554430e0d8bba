"""The JSON login routes: ``POST /api/v1/session`` (log in), ``GET`` (who am I),
``DELETE`` (log out). The dashboard's login page uses the same authenticator calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyark.access.permissions import Principal
from keyark.server.dependencies import authenticator_of, principal_of
from keyark.server.problems import MEDIA_TYPE, PROBLEM_SCHEMA

router = APIRouter(prefix="/api/v1", tags=["session"])

_PROBLEM = {"content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}


class Login(BaseModel):
    """A dashboard user's credentials (a local user or an LDAP user)."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=4096)
    #: The six-digit code of the user's authenticator app (TOTP users only).
    totp: str | None = Field(default=None, max_length=16)


class SessionInfo(BaseModel):
    """Who is logged in, with which role, and the CSRF token state-changing requests send."""

    principal: str
    role: str
    csrf_token: str | None = None


def _info(principal: Principal, csrf: str | None) -> dict[str, Any]:
    return SessionInfo(
        principal=principal.name, role=str(principal.role), csrf_token=csrf
    ).model_dump()


@router.post(
    "/session",
    response_model=SessionInfo,
    responses={401: _PROBLEM, 422: _PROBLEM, 429: _PROBLEM},
    summary="Log in: a session cookie and its CSRF token.",
)
def log_in(request: Request, credentials: Login) -> Response:
    """Check a user's password (and TOTP code); set the session and CSRF cookies."""
    auth = authenticator_of(request)
    session = auth.login(request, credentials.username, credentials.password, credentials.totp)
    response = JSONResponse(_info(session.principal, session.csrf_token))
    auth.start_session(response, session)
    return response


@router.get(
    "/session",
    response_model=SessionInfo,
    responses={401: _PROBLEM, 429: _PROBLEM},
    summary="The request's principal and role (and its session's CSRF token).",
)
def who_am_i(
    request: Request, principal: Annotated[Principal, Depends(principal_of)]
) -> dict[str, Any]:
    """The principal of the token or session that sent the request."""
    return _info(principal, authenticator_of(request).csrf_token(request))


@router.delete(
    "/session",
    status_code=204,
    responses={401: _PROBLEM, 403: _PROBLEM, 429: _PROBLEM},
    summary="Log out: end the session and clear its cookies.",
)
def log_out(request: Request, principal: Annotated[Principal, Depends(principal_of)]) -> Response:
    """End the request's session (a token request has none: nothing changes)."""
    del principal  # authenticated, and the CSRF token checked, by the dependency
    response = Response(status_code=204)
    authenticator_of(request).end_session(request, response)
    return response


__all__ = ["Login", "SessionInfo", "router"]
