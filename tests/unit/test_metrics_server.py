"""The metrics endpoint as a real HTTP(S) server on loopback: basic auth refuses a wrong
password (and a missing one), TLS serves only TLS, and a server that cannot start never
stops the daemon (it is logged)."""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conformance.certs import self_signed

from keyark.config.document import KeyarkConfig
from keyark.metrics.server import MetricsServer, start_metrics_server
from keyark.state.runs import RunRecord, RunStore

PASSWORD = "s3cret-scrape"


def write_config(tmp_path: Path, **metrics: object) -> KeyarkConfig:
    return KeyarkConfig.model_validate(
        {
            "jobs": {},
            "scheduler": {"state_dir": str(tmp_path / "state")},
            "metrics": {"listen": "127.0.0.1:0", **metrics},
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "state")
    store.record(RunRecord("tls", "backup", "manual", status="success"))
    return store


def serve(
    config: KeyarkConfig, store: RunStore, caplog: pytest.LogCaptureFixture
) -> Iterator[MetricsServer]:
    caplog.set_level(logging.INFO, logger="keyark")  # whatever level an earlier test left
    server = start_metrics_server(lambda: config, store, logging.getLogger("keyark.test"))
    assert server is not None, caplog.text
    try:
        yield server
    finally:
        server.close()


def get(
    url: str, auth: tuple[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_plain_endpoint_serves_the_exposition(
    tmp_path: Path, store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    for server in serve(write_config(tmp_path), store, caplog):
        status, body = get(server.url)
        assert status == 200
        names = {family.name for family in text_string_to_metric_families(body)}
        assert "keyark_job_runs" in names  # a counter family (samples end in _total)
        assert get(server.url.replace("/metrics", "/other"))[0] == 404
        assert f"metrics on {server.url}" in caplog.text


def test_basic_auth_refuses_a_wrong_or_missing_password(
    tmp_path: Path, store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    password_file = tmp_path / "metrics-pw"
    password_file.write_text(PASSWORD + "\n")
    config = write_config(
        tmp_path, basic_auth_user="prom", basic_auth_password_file=str(password_file)
    )
    for server in serve(config, store, caplog):
        assert get(server.url)[0] == 401
        assert get(server.url, ("prom", "wrong"))[0] == 401
        assert get(server.url, ("other", PASSWORD))[0] == 401
        assert get(server.url, ("prom", PASSWORD + "\n"))[0] == 401  # the newline is not in it
        status, body = get(server.url, ("prom", PASSWORD))  # positive control
        assert status == 200 and "keyark_job_runs_total" in body
    assert PASSWORD not in caplog.text


def test_an_unreadable_password_file_serves_nothing_and_is_logged(
    tmp_path: Path, store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(
        tmp_path, basic_auth_user="prom", basic_auth_password_file=str(tmp_path / "missing")
    )
    caplog.set_level(logging.INFO)
    assert start_metrics_server(lambda: config, store, logging.getLogger("keyark.test")) is None
    assert "metrics are not served: cannot read the metrics password file" in caplog.text


def test_an_address_in_use_is_logged_not_raised(
    tmp_path: Path, store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path)
        config = config.model_copy(
            update={"metrics": config.metrics.model_copy(update={"listen": f"127.0.0.1:{port}"})}
        )
        caplog.set_level(logging.INFO)
        logger = logging.getLogger("keyark.test")
        assert start_metrics_server(lambda: config, store, logger) is None
    assert f"metrics are not served: cannot listen on 127.0.0.1:{port}" in caplog.text


def test_metrics_can_be_turned_off(tmp_path: Path, store: RunStore) -> None:
    config = write_config(tmp_path, enabled=False)
    assert start_metrics_server(lambda: config, store, logging.getLogger("keyark.test")) is None


def test_tls_serves_https_only(
    tmp_path: Path, store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = self_signed(tmp_path)
    config = write_config(tmp_path, tls_cert=str(cert), tls_key=str(key))
    for server in serve(config, store, caplog):
        assert server.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        trusted.check_hostname = False
        status, body = get(server.url, context=trusted)
        assert status == 200 and "keyark_job_runs_total" in body
        with pytest.raises(OSError):  # plain HTTP gets no answer (reset or refused)
            get(server.url.replace("https://", "http://"))
        # a client that never starts a handshake holds up no other client
        with socket.create_connection(("127.0.0.1", server.port)):
            assert get(server.url, context=trusted)[0] == 200
