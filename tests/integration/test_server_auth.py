"""The real authenticator behind a real uvicorn: the role matrix over every route of
``ROUTES``, API token expiry and revocation, login sessions, cookies and CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.auth_fixtures import AuthServer, auth_server

from keyark import ops
from keyark.access import tokens
from keyark.access.permissions import ROLE_PERMISSIONS, Role
from keyark.server.routes import ROUTES, RouteSpec

#: Values for path parameters: real where a real one is cheap, else unknown (404 after
#: the permission check).
PATH_VALUES = {"snapshot": "latest", "job": "nightly", "task_id": "no-such-task"}
#: A body no route accepts (every operation's body forbids unknown fields): an allowed
#: POST answers 422 without running anything, a denied one 403 first.
PROBE_BODY = {"role_matrix_probe": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("auth")) as running:
        yield running


def _request(spec: RouteSpec) -> tuple[str, str, dict[str, Any]]:
    path = re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m.group(1)], spec.full_path)
    extra: dict[str, Any] = {}
    if spec.method in ("POST", "PUT", "PATCH"):
        extra["json"] = PROBE_BODY
    return spec.method, path, extra


def test_role_matrix_every_route_with_every_role(server: AuthServer) -> None:
    client = server.client_from()
    denied: dict[Role, list[str]] = {role: [] for role in Role}
    for spec in ROUTES:
        method, path, extra = _request(spec)
        for role in Role:
            response = client.request(
                method, path, headers=server.bearer(server.tokens[role]), **extra
            )
            allowed = spec.permission in ROLE_PERMISSIONS[role]
            where = f"{role} {method} {path} ({spec.permission}): {response.status_code}"
            if allowed:
                assert response.status_code not in (401, 403), where + response.text[:300]
            else:
                assert response.status_code == 403, where
                assert response.json()["code"] == "forbidden", where
                denied[role].append(f"{method} {spec.path}")
    # Positive controls: the matrix did deny, exactly as the role table says.
    assert denied[Role.ADMIN] == []
    for role in (Role.VIEWER, Role.AUDITOR, Role.OPERATOR):
        expected = [
            f"{s.method} {s.path}" for s in ROUTES if s.permission not in ROLE_PERMISSIONS[role]
        ]
        assert denied[role] == expected and expected, role
    assert "GET /snapshots" in denied[Role.VIEWER] and "POST /forget" in denied[Role.OPERATOR]


def test_anonymous_and_bad_credentials_are_401(server: AuthServer) -> None:
    client = server.client_from()
    assert client.get("/api/v1/snapshots").status_code == 401
    for header in ("Bearer kya_0000000000000000_" + "A" * 43, "Bearer nonsense", "Basic eDp5"):
        response = client.get("/api/v1/snapshots", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["code"] == "unauthenticated"
    me = client.get("/api/v1/session", headers=server.bearer(server.tokens[Role.AUDITOR]))
    assert me.json() == {"principal": "token:role-auditor", "role": "auditor", "csrf_token": None}


def test_revoked_token_is_refused_at_once(server: AuthServer) -> None:
    client = server.client_from()
    token = server.issue("soon-revoked", Role.AUDITOR)
    assert client.get("/api/v1/snapshots", headers=server.bearer(token)).status_code == 200
    ops.server_token_revoke(
        ops.OperationContext(),
        ops.TokenRevokeOptions("soon-revoked", state_dir=server.settings.state_dir),
    )
    refused = client.get("/api/v1/snapshots", headers=server.bearer(token))
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"


def test_expired_token_is_refused(server: AuthServer, monkeypatch: pytest.MonkeyPatch) -> None:
    client = server.client_from()
    token = server.issue("short-lived", Role.VIEWER, lifetime=timedelta(hours=1))
    assert client.get("/api/v1/jobs", headers=server.bearer(token)).status_code == 200
    # The server runs in this process: move the token store's clock past the expiry.
    later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(tokens, "now_utc", lambda: later)
    assert client.get("/api/v1/jobs", headers=server.bearer(token)).status_code == 401
    listed = ops.server_token_list(
        ops.OperationContext(), ops.TokenListOptions(state_dir=server.settings.state_dir)
    )
    statuses = {info.name: info.status() for info in listed.tokens}
    assert statuses["short-lived"] == "expired" and statuses["role-admin"] == "active"


def _login(client: httpx.Client, user: str, password: str, **more: Any) -> httpx.Response:
    return client.post("/api/v1/session", json={"username": user, "password": password, **more})


def test_session_cookies_and_csrf(server: AuthServer) -> None:
    server.add_user("olivia", Role.OPERATOR, "olivia password")
    client = server.client_from()
    assert _login(client, "olivia", "wrong password").status_code == 401
    login = _login(client, "olivia", "olivia password")
    assert login.status_code == 200, login.text
    assert login.json()["principal"] == "user:olivia" and login.json()["role"] == "operator"
    csrf = login.json()["csrf_token"]
    # A second login replaces the session: the first cookie stops working (no fixation).
    first_cookie = client.cookies.get("keyark_session")
    login = _login(client, "olivia", "olivia password")
    assert client.cookies.get("keyark_session") != first_cookie
    stale = httpx.get(server.url + "/api/v1/jobs", cookies={"keyark_session": str(first_cookie)})
    assert stale.status_code == 401
    csrf = login.json()["csrf_token"]
    cookies = {c.split("=", 1)[0]: c.lower() for c in login.headers.get_list("set-cookie")}
    session_cookie = cookies["keyark_session"]
    assert "httponly" in session_cookie and "samesite=strict" in session_cookie
    assert "secure" not in session_cookie  # plain HTTP here (TLS: see the unit test)
    assert "httponly" not in cookies["keyark_csrf"]  # the page reads it for its header
    assert client.get("/api/v1/snapshots").status_code == 200  # the cookie authenticates
    # A state-changing request with the cookie but without the CSRF token is refused ...
    refused = client.delete("/api/v1/tasks/no-such-task")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    wrong = client.delete("/api/v1/tasks/no-such-task", headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403
    # ... with it (header or form field) it reaches the route (an unknown task: 404).
    ok = client.delete("/api/v1/tasks/no-such-task", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 404, ok.text
    form = client.request("DELETE", "/api/v1/tasks/no-such-task", data={"csrf_token": csrf})
    assert form.status_code == 404, form.text
    # A bearer request needs no CSRF token (no cookie can send it cross-site).
    bearer = httpx.delete(
        server.url + "/api/v1/tasks/no-such-task", headers=server.bearer(server.tokens[Role.ADMIN])
    )
    assert bearer.status_code == 404
    # Logging out is state-changing too; afterwards the cookie is worthless.
    old_cookie = client.cookies.get("keyark_session")
    assert old_cookie
    assert client.delete("/api/v1/session").status_code == 403
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    replay = httpx.get(server.url + "/api/v1/snapshots", cookies={"keyark_session": old_cookie})
    assert replay.status_code == 401


def test_a_removed_user_loses_its_session(server: AuthServer) -> None:
    server.add_user("victor", Role.VIEWER, "victor password")
    client = server.client_from()
    assert _login(client, "victor", "victor password").status_code == 200
    assert client.get("/api/v1/jobs").status_code == 200
    assert client.get("/api/v1/snapshots").status_code == 403  # a viewer sees no names
    ops.server_user_remove(
        ops.OperationContext(),
        ops.UserRemoveOptions("victor", state_dir=server.settings.state_dir),
    )
    assert client.get("/api/v1/jobs").status_code == 401


def test_cookies_are_secure_with_tls(tmp_path: Path) -> None:
    from starlette.responses import Response

    from keyark.access.permissions import Principal
    from keyark.server.auth import make_authenticator
    from keyark.server.security import Session

    auth = make_authenticator(tmp_path, tls=True)
    response = Response()
    auth.start_session(response, Session(Principal("user:x", Role.VIEWER), "sid", "csrf"))
    cookies = [c.lower() for c in response.headers.getlist("set-cookie")]
    assert len(cookies) == 2 and all(c.startswith("__host-keyark_") for c in cookies)
    assert all("secure" in c and "samesite=strict" in c and "path=/" in c for c in cookies)
