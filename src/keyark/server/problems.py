"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns is ``{type, title, status, detail, code, hint}``: ``code`` is
the core error's stable code (:attr:`keyark.errors.KeyarkError.code`), ``hint`` its
face-neutral :class:`~keyark.errors.Hint` code, ``detail`` the error's message. Rate
limited responses carry ``Retry-After``. Nothing unexpected leaks: an error that is not a
:class:`~keyark.errors.KeyarkError` becomes a bare 500 with code ``internal``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from keyark.errors import (
    AuthenticationError,
    CancelledError,
    DirectoryUnavailableError,
    ForbiddenError,
    KeyarkError,
    LockError,
    RateLimitedError,
    RepositoryNotFoundError,
    SnapshotNotFoundError,
    UnknownResourceError,
    UsageError,
)

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
#: The ``type`` URI prefix of keyark's problems (one per error code).
TYPE_PREFIX = "https://keyark.dev/problems/"

#: The HTTP status of each error kind (the first that matches wins); others are 500.
STATUS_OF: tuple[tuple[type[KeyarkError], int], ...] = (
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (RateLimitedError, 429),
    (UnknownResourceError, 404),
    (SnapshotNotFoundError, 404),
    (RepositoryNotFoundError, 404),
    (UsageError, 422),
    (LockError, 409),
    (CancelledError, 409),
    (DirectoryUnavailableError, 503),
)

#: The statuses of refused requests (each is recorded in the audit log).
REFUSALS = frozenset({401, 403, 429})

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    503: "Service unavailable",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
    500: "Server error",
}

#: The OpenAPI description of a problem body (every error response of every route).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": ["string", "null"]},
        "code": {"type": "string"},
        "hint": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def status_of(error: KeyarkError) -> int:
    """The HTTP status ``error`` is returned with."""
    for kind, status in STATUS_OF:
        if isinstance(error, kind):
            return status
    return 500


def problem(
    status: int,
    code: str,
    detail: str | None = None,
    hint: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "hint": hint,
        **(extra or {}),
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_problem(error: KeyarkError) -> JSONResponse:
    """The problem of a core error: its status, code, message and hint."""
    headers = None
    if isinstance(error, RateLimitedError):
        headers = {"Retry-After": str(max(1, int(error.retry_after)))}
    hint = None if error.hint is None else str(error.hint)
    return problem(status_of(error), error.code, str(error), hint, headers=headers)


def install(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_keyark(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, KeyarkError)
        response = error_problem(error)
        if response.status_code in REFUSALS:
            state = getattr(request.app.state, "keyark", None)
            if state is not None:  # recorded in the audit log, in a worker thread
                from starlette.concurrency import run_in_threadpool

                await run_in_threadpool(state.record_refusal, request, error)
        return response

    async def on_validation(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [
            {"loc": [str(step) for step in item.get("loc", ())], "msg": str(item.get("msg", ""))}
            for item in error.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid input"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}"
        return problem(422, "invalid_input", detail, None, extra={"errors": errors})

    async def on_http(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        headers = dict(error.headers) if error.headers else None
        return problem(error.status_code, code, str(error.detail), None, headers=headers)

    async def on_other(_request: Request, error: Exception) -> JSONResponse:
        log.error("internal error: %s", type(error).__name__, exc_info=error)
        return problem(500, "internal", "internal server error", None)

    app.add_exception_handler(KeyarkError, on_keyark)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_other)


__all__ = ["MEDIA_TYPE", "PROBLEM_SCHEMA", "error_problem", "install", "problem", "status_of"]
