"""Schemathesis over /api/v1/openapi.json: generated requests to every operation, as an
admin, against a real uvicorn; no server error (5xx), no response outside the schema.

A small run (a few examples per operation, one time limit for the whole walk): it looks
for crashes and schema drift, not for every input. Restores go under a restore root. The
server authenticates with its real token store (an admin token made as ``keyark server
token create`` makes it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.server_fixtures import api_server_at, free_socket

from keyark.access.permissions import Role
from keyark.server.routes import ROUTES

#: Generated examples per operation.
EXAMPLES = 6
#: The whole walk stops starting new operations after this long (seconds).
TIME_LIMIT = 240.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(
    url: str, headers: dict[str, str], deadline: float
) -> tuple[set[tuple[str, str]], list[int]]:
    """Generated requests to each operation of ``url``'s OpenAPI document, each answer
    checked (:data:`CHECKS`); the (method, path) pairs walked and the statuses seen. A
    failed check raises."""
    schema = schemathesis.openapi.from_url(url + "/api/v1/openapi.json")
    walked: set[tuple[str, str]] = set()
    statuses: list[int] = []
    for found in schema.get_all_operations():
        if time.monotonic() > deadline:
            break
        operation = found.ok()  # type: ignore[union-attr]
        walked.add((operation.method.upper(), operation.path))

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case[Any]) -> None:
            response = case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)
            statuses.append(response.status_code)

        call()
    return walked, statuses


def test_generated_requests_cause_no_server_error(tmp_path: Path) -> None:
    restores = tmp_path / "restores"
    restores.mkdir()
    with api_server_at(tmp_path, restore_root=restores, real_auth=True) as server:
        deadline = time.monotonic() + TIME_LIMIT
        walked, statuses = fuzz(server.url, server.headers(Role.ADMIN), deadline)
    api_routes = {(spec.method, spec.full_path) for spec in ROUTES}
    assert api_routes <= walked, api_routes - walked
    assert len(statuses) >= 2 * len(ROUTES)
    assert any(status < 300 for status in statuses)  # not only refusals
    assert max(statuses) < 500


def test_the_fuzzing_finds_a_server_error() -> None:
    """Positive control: the same walk over an API with a route that fails on some input."""
    app = FastAPI(openapi_url="/api/v1/openapi.json")

    @app.get("/api/v1/fragile")
    def fragile(count: int = 0) -> dict[str, int]:
        return {"inverse": 100 // (count % 2)}  # an even count is a server error

    with serve_app(app) as url, pytest.raises(BaseException, match=r"(?i)server error"):
        fuzz(url, {}, time.monotonic() + 60)


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """``app`` on uvicorn at 127.0.0.1 (a free port) in a thread; its base URL."""
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
