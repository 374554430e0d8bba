"""``keyark serve`` as installed, in a subprocess: the loopback rule, a real API token,
a clean stop on SIGTERM, and ``--with-daemon`` running a scheduled job."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest
from tests.conftest import keyark_binary
from tests.server_fixtures import server_config

#: uvicorn's line once it listens (the port the OS chose for ``--listen 127.0.0.1:0``).
LISTENING = re.compile(r"Uvicorn running on (https?://127\.0\.0\.1:\d+)")


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    env["KEYARK_STATE_DIR"] = str(tmp_path / "state")
    env["KEYARK_TEST_FAST_KDF"] = "1"
    return env


def keyark(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [keyark_binary(), *args], env=environment(tmp_path), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@contextmanager
def serving(tmp_path: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``keyark serve --config ... --listen 127.0.0.1:0 ARGS``; its URL once uvicorn says
    it listens. Stopped with SIGTERM afterwards (if still running)."""
    config = str(tmp_path / "keyark.yaml")
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [keyark_binary(), "serve", "--config", config, "--listen", "127.0.0.1:0", *args],
        env=environment(tmp_path), stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield _wait_listening(process, log), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _wait_listening(process: subprocess.Popen[str], log: IO[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        found = LISTENING.search(log.read())
        if found:
            return found.group(1)
        assert process.poll() is None, f"keyark serve exited {process.returncode}"
        time.sleep(0.1)
    raise AssertionError("keyark serve did not start listening")


def admin_token(tmp_path: Path) -> str:
    made = keyark(tmp_path, "server", "token", "create", "--config", str(tmp_path / "keyark.yaml"),
                  "--name", "e2e", "--role", "admin")  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("address", ["0.0.0.0:8470", "192.0.2.1:8470", "example.org:8470"])
def test_plain_http_beyond_loopback_is_refused(tmp_path: Path, address: str) -> None:
    server_config(tmp_path, backup=False)
    result = keyark(
        tmp_path, "serve", "--config", str(tmp_path / "keyark.yaml"), "--listen", address
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a loopback address" in lines[0]
    assert "--insecure-http" in lines[0] and "Traceback" not in result.stderr


def test_half_of_tls_is_refused(tmp_path: Path) -> None:
    server_config(tmp_path, backup=False)
    result = keyark(tmp_path, "serve", "--config", str(tmp_path / "keyark.yaml"),
                    "--tls-cert", str(tmp_path / "cert.pem"))  # fmt: skip
    assert result.returncode == 1
    assert "certificate and its private key" in result.stderr


def test_serves_with_a_real_token_and_stops_on_sigterm(tmp_path: Path) -> None:
    server_config(tmp_path)
    token = admin_token(tmp_path)
    with serving(tmp_path) as (url, process):
        anonymous = httpx.get(url + "/api/v1/snapshots", timeout=30)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        listed = httpx.get(url + "/api/v1/snapshots", headers={"Authorization": f"Bearer {token}"},
                           timeout=60)  # fmt: skip
        assert listed.status_code == 200 and len(listed.json()["snapshots"]) == 1
        assert (
            httpx.get(url + "/api/v1/openapi.json", timeout=30).json()["openapi"].startswith("3.1")
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log


def test_with_daemon_runs_scheduled_jobs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    jobs = {"tick": {"repository": "main", "sources": [str(data)], "schedule": "every 1s"}}
    server_config(tmp_path, jobs=jobs, backup=False, extra={"metrics": {"listen": "127.0.0.1:0"}})
    token = admin_token(tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    with serving(tmp_path, "--with-daemon") as (url, process):
        deadline = time.monotonic() + 120
        runs: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            runs = httpx.get(url + "/api/v1/history", headers=headers, timeout=30).json()
            if any(run["trigger"] == "schedule" and run["status"] == "success" for run in runs):
                break
            time.sleep(0.5)
        assert any(run["trigger"] == "schedule" and run["status"] == "success" for run in runs), (
            runs
        )
        assert (tmp_path / "state" / "daemon.pid").read_text().strip() == str(process.pid)
        # one daemon per config: a second scheduler on the same config is refused
        second = keyark(tmp_path, "daemon", "--config", str(tmp_path / "keyark.yaml"))
        assert second.returncode != 0 and "another keyark daemon" in second.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(120) == 0
    assert not (tmp_path / "state" / "daemon.pid").exists()
    history = keyark(
        tmp_path, "history", "tick", "--config", str(tmp_path / "keyark.yaml"), "--json"
    )
    assert '"trigger": "schedule"' in history.stdout


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    key_file.chmod(0o600)
    return cert_file, key_file


def test_serves_https_with_a_certificate(tmp_path: Path) -> None:
    server_config(tmp_path, backup=False)
    cert_file, key_file = self_signed(tmp_path)
    with serving(tmp_path, "--tls-cert", str(cert_file), "--tls-key", str(key_file)) as (url, _):
        assert url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert_file))
        document = httpx.get(url + "/api/v1/openapi.json", verify=trust, timeout=30)
        assert document.json()["openapi"].startswith("3.1")
        with pytest.raises(httpx.HTTPError):  # positive control: plain HTTP gets no answer
            httpx.get(url.replace("https://", "http://") + "/api/v1/openapi.json", timeout=10)
