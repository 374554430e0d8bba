"""The enrolment route's own rate limit (issue 18 §1): per client address, 429
problem+json with ``Retry-After``; a real uvicorn server over TLS, real clients from two
loopback addresses."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.e2e.fleet_tls import self_signed, tls_server
from tests.server_fixtures import server_config, settings_for

from keyark import ops
from keyark.server.fleet_routes import ENROL_ATTEMPTS_PER_MINUTE

HOST = "app-01"
ENROLL = "/api/v1/agents/enroll"
#: A well-formed token that enrols nobody.
FORGED = "kye_0123456789abcdef_" + "A" * 43


def _client(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (the test's self-signed cert)."""
    transport = httpx.HTTPTransport(local_address=address, verify=False)
    return httpx.Client(transport=transport, timeout=60)


def test_enrolment_attempts_are_limited_per_client_address(tmp_path: Path) -> None:
    jobs = {"keys-app-01": {"repository": "main", "host": HOST, "sources": [str(tmp_path)]}}
    config = server_config(tmp_path, jobs=jobs, backup=False)
    cert, key, _ = self_signed(tmp_path, "server")
    settings = settings_for(config, tls_cert=cert, tls_key=key)
    issued = ops.server_agent_enroll_token(
        ops.OperationContext(), ops.EnrollTokenOptions(HOST, state_dir=settings.state_dir)
    )
    with tls_server(settings) as url, _client("127.0.0.1") as one, _client("127.0.0.2") as two:
        for _ in range(ENROL_ATTEMPTS_PER_MINUTE):
            assert one.post(url + ENROLL, json={"token": FORGED}).status_code == 401
        limited = one.post(url + ENROLL, json={"token": FORGED})
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert int(limited.headers["retry-after"]) >= 1
        # over the limit even the right token is refused before it is looked at ...
        refused = one.post(url + ENROLL, json={"token": issued.token})
        assert refused.status_code == 429
        # ... so it is not spent: another address enrols with it (positive control)
        enrolled = two.post(url + ENROLL, json={"token": issued.token})
        assert enrolled.status_code == 200, enrolled.text
        assert enrolled.json()["host"] == HOST and enrolled.json()["credential"]
        # the other address's own limit is untouched by the first one's attempts
        assert two.post(url + ENROLL, json={"token": FORGED}).status_code == 401
