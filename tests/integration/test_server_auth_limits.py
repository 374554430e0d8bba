"""Rate limits per token and per client address (429 + Retry-After), login and TOTP
limits, lockout after failed logins recorded in the audit log: the real authenticator
behind a real uvicorn, clients on several loopback addresses."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from tests.auth_fixtures import AuthServer, auth_server

from keyark import ops
from keyark.access import totp
from keyark.access.permissions import Role

#: Small limits, so a test reaches them in a few requests; a request or attempt is earned
#: back every 12 s (requests) or 15 s (logins), longer than a test's burst takes.
LIMITS = {
    "rate_limits": {"requests_per_minute": 5, "logins_per_minute": 4},
    "lockout": {"failed_logins": 3, "duration": "10m"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp("limits"), server=LIMITS) as running:
        yield running


def _assert_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def test_requests_are_limited_per_token_and_per_address(server: AuthServer) -> None:
    first, second, third = (server.client_from(f"127.0.0.{n}") for n in (11, 12, 13))
    token = server.issue("busy", Role.VIEWER)
    for _ in range(5):
        assert first.get("/api/v1/jobs", headers=server.bearer(token)).status_code == 200
    _assert_limited(first.get("/api/v1/jobs", headers=server.bearer(token)))
    # The same token from a fresh address: still limited (per token) ...
    _assert_limited(third.get("/api/v1/jobs", headers=server.bearer(token)))
    # ... another token from another address is not ...
    other = server.tokens[Role.VIEWER]
    assert second.get("/api/v1/jobs", headers=server.bearer(other)).status_code == 200
    # ... and the first address is limited whatever it sends (anonymous, another token).
    _assert_limited(first.get("/api/v1/jobs"))
    _assert_limited(first.get("/api/v1/jobs", headers=server.bearer(server.tokens[Role.ADMIN])))


def test_login_attempts_are_limited_per_address(server: AuthServer) -> None:
    client = server.client_from("127.0.0.21")
    for n in range(4):  # different names: no lockout, only the address's attempts
        response = client.post(
            "/api/v1/session", json={"username": f"guess{n}", "password": "guessing"}
        )
        assert response.status_code == 401
    _assert_limited(
        client.post("/api/v1/session", json={"username": "guess9", "password": "guessing"})
    )


def test_lockout_after_failed_logins_is_audited(server: AuthServer) -> None:
    server.add_user("alice", Role.ADMIN, "alice password")
    client = server.client_from("127.0.0.31")
    wrong = {"username": "alice", "password": "not her password"}
    assert [client.post("/api/v1/session", json=wrong).status_code for _ in range(3)] == [401] * 3
    right = {"username": "alice", "password": "alice password"}
    locked = server.client_from("127.0.0.32").post("/api/v1/session", json=right)
    assert locked.status_code == 429 and locked.json()["code"] == "rate_limited"
    assert 500 < int(locked.headers["Retry-After"]) <= 600  # the lockout's 10 minutes
    # Recorded in the audit log of the config's repository, with the locked name.
    config = server.settings.config
    context = ops.OperationContext(
        config=config.repository("main"),
        audit=ops.AuditPolicy.from_section(config.audit),
        cache_dir=server.settings.state_dir.parent / "cache",
    )
    records = ops.audit_log(context, ops.AuditLogOptions()).records
    lockouts = [r for r in records if r.operation == "server login lockout"]
    assert len(lockouts) == 1, [r.operation for r in records]
    assert lockouts[0].actor["principal"] == "user:alice"
    # Positive control: no other name was locked (bob logs in).
    server.add_user("bob", Role.VIEWER, "bob password")
    bob = {"username": "bob", "password": "bob password"}
    assert server.client_from("127.0.0.33").post("/api/v1/session", json=bob).status_code == 200


def test_totp_login_needs_a_fresh_code(server: AuthServer) -> None:
    uri = server.add_user("tina", Role.AUDITOR, "tina password", totp=True)
    assert uri is not None
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    client = server.client_from("127.0.0.41")
    login = {"username": "tina", "password": "tina password"}
    assert client.post("/api/v1/session", json=login).status_code == 401  # no code
    bad = "000000" if totp.code_at(secret) != "000000" else "111111"
    assert client.post("/api/v1/session", json={**login, "totp": bad}).status_code == 401
    code = totp.code_at(secret)
    accepted = client.post("/api/v1/session", json={**login, "totp": code})
    assert accepted.status_code == 200 and accepted.json()["principal"] == "user:tina"
    replayed = server.client_from("127.0.0.42").post(
        "/api/v1/session", json={**login, "totp": code}
    )
    assert replayed.status_code == 401


def test_wrong_codes_lock_the_name_like_wrong_passwords(server: AuthServer) -> None:
    uri = server.add_user("tom", Role.VIEWER, "tom password", totp=True)
    assert uri is not None
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    client = server.client_from("127.0.0.51")
    login = {"username": "tom", "password": "tom password"}
    bad = "000000" if totp.code_at(secret) != "000000" else "111111"
    guesses = [client.post("/api/v1/session", json={**login, "totp": bad}) for _ in range(3)]
    assert [guess.status_code for guess in guesses] == [401, 401, 401]
    # Locked (not merely rate limited: the lockout's minutes), even with the right code.
    locked = client.post("/api/v1/session", json={**login, "totp": totp.code_at(secret)})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 500
