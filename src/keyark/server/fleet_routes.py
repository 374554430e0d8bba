"""The fleet's routes: agents enrol, report runs, pull their config; admins list the fleet.

- ``POST /api/v1/agents/enroll``: no bearer token; the one-time enrolment token in the
  body. The server redeems it, registers a write-only agent for the token's host on the
  config's first repository (the ``server agent register`` operation, audited as principal
  ``enrolment:<host>``; the credential is held in memory only) and answers the credential,
  the assigned config and a report token. Each client address may try
  ``ENROL_ATTEMPTS_PER_MINUTE`` enrolments a minute (429 with ``Retry-After`` beyond).
- ``POST /api/v1/agents/report`` and ``GET /api/v1/agents/config`` (ETag,
  ``If-None-Match``): the agent's report token as ``Authorization: Bearer``.
- ``GET /api/v1/agents/fleet``: every enrolled host (metadata permission).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyark import ops
from keyark.access.permissions import Permission, Principal, Role
from keyark.access.ratelimit import RateLimiter
from keyark.errors import AuthenticationError
from keyark.server.dependencies import require, state_of
from keyark.server.router import ERRORS
from keyark.server.routes import PREFIX
from keyark.server.state import ServerState

router = APIRouter(prefix=PREFIX, tags=["agents"], responses=ERRORS)
#: Enrolment attempts a minute per client address (a token is guessed nowhere faster).
ENROL_ATTEMPTS_PER_MINUTE = 10
_LIMITER_LOCK = threading.Lock()


class EnrollRequest(BaseModel):
    """The body of an enrolment: the one-time token."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=200)


def _free_agent_name(state: ServerState, principal: Principal, host: str) -> str:
    """``host``, or ``host-2``, ``host-3`` ... when that agent name was used (agent names
    are never re-used, so a re-enrolled host gets a new one)."""
    listed = state.run(principal, "agent list", ops.AgentListOptions())
    taken = {info.name for info in getattr(listed, "agents", [])}
    name, number = host, 1
    while name in taken:
        number += 1
        name = f"{host}-{number}"
    return name


def _new_credential(state: ServerState, principal: Principal, host: str) -> tuple[str, str]:
    """Register an agent for ``host``: its name and credential (held in memory only)."""
    name = _free_agent_name(state, principal, host)
    options = ops.AgentRegisterOptions(name, [host])
    registered = state.run(principal, "server agent register", options)
    assert isinstance(registered, ops.AgentRegistered)
    return name, registered.credential.decode("utf-8")


def _assignment(state: ServerState, host: str) -> dict[str, Any]:
    return ops.assigned_config(state.config, state.settings.config_path, host)


def enrol_limiter(request: Request) -> RateLimiter:
    """This server's limit of enrolment attempts (one per application, made on first use)."""
    with _LIMITER_LOCK:
        limiter = getattr(request.app.state, "keyark_enrol_limiter", None)
        if not isinstance(limiter, RateLimiter):
            limiter = RateLimiter(ENROL_ATTEMPTS_PER_MINUTE)
            request.app.state.keyark_enrol_limiter = limiter
    return limiter


@router.post("/agents/enroll", name="post_agents_enroll", summary="Enrol a host as an agent.")
def enroll(request: Request, body: Annotated[EnrollRequest, Body()]) -> JSONResponse:
    """Redeem a one-time enrolment token: a write-only credential, the assigned config and
    a report token for the token's host. At most ``ENROL_ATTEMPTS_PER_MINUTE`` attempts a
    minute per client address (429 with ``Retry-After`` beyond)."""
    address = request.client.host if request.client is not None else "unknown"
    enrol_limiter(request).check(f"enrol-address:{address}", "enrolment attempts")
    state = state_of(request)
    store = ops.enrolment_store(state.config, state.settings.state_dir)
    host = store.redeem(body.token)
    principal = Principal(f"enrolment:{host}", Role.ADMIN)
    try:
        assignment = _assignment(state, host)
        name, credential = _new_credential(state, principal, host)
    except BaseException:
        store.release(body.token)  # nothing was registered: the token stays usable
        raise
    ops.fleet_registry(state.config, state.settings.state_dir).enrolled(host, name)
    report_token = store.issue_report_token(host)
    return JSONResponse(
        {
            "host": host,
            "agent": name,
            "credential": credential,
            "assignment": assignment,
            "etag": ops.config_etag(assignment),
            "report_token": report_token,
        },
        headers={"Cache-Control": "no-store"},
    )


def reporting_host(request: Request) -> str:
    """The host of the request's agent report token (401 otherwise)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("this request needs the agent's report token")
    state = state_of(request)
    store = ops.enrolment_store(state.config, state.settings.state_dir)
    return store.report_host(token.strip())


@router.post("/agents/report", name="post_agents_report", summary="Report an agent's run.")
def report(
    request: Request,
    host: Annotated[str, Depends(reporting_host)],
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    """Store a run report of the agent's host (fleet registry and run history)."""
    state = state_of(request)
    registry = ops.fleet_registry(state.config, state.settings.state_dir)
    ops.record_report(state.config, registry, state.runs, host, ops.RunReport.from_dict(body))
    return JSONResponse({"host": host, "stored": True})


@router.get(
    "/agents/config",
    name="get_agents_config",
    summary="An agent's assigned config.",
    responses={304: {"description": "Not modified (the ETag given in If-None-Match)"}},
)
def agent_config(request: Request, host: Annotated[str, Depends(reporting_host)]) -> Response:
    """The config assigned to the agent's host, with an ETag (304 when unchanged)."""
    assignment = _assignment(state_of(request), host)
    etag = ops.config_etag(assignment)
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse({"assignment": assignment, "etag": etag}, headers={"ETag": etag})


@router.get("/agents/fleet", name="get_agents_fleet", summary="The enrolled hosts.")
def fleet(
    request: Request, principal: Annotated[Principal, Depends(require(Permission.METADATA))]
) -> JSONResponse:
    """Every enrolled host: agent, enrolment, last report, last success, version."""
    state = state_of(request)
    agents = ops.fleet_registry(state.config, state.settings.state_dir).agents()
    return JSONResponse({"agents": [agent.to_dict() for agent in agents]})


__all__ = ["ENROL_ATTEMPTS_PER_MINUTE", "EnrollRequest", "enrol_limiter", "router"]
