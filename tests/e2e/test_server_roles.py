"""The installed ``keyark``: tokens and users made by ``keyark server`` work against a
``keyark serve`` process at once, each role reaching what its permissions allow, and a
token revoked by the command is refused by the running server at its next request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import keyark_binary
from tests.server_fixtures import free_socket, server_config


@dataclass
class Served:
    """A ``keyark serve`` process: its URL, config and environment."""

    url: str
    config: Path
    env: dict[str, str]

    def keyark(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the installed ``keyark`` with this config."""
        return subprocess.run(
            [keyark_binary(), *args, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
        )

    def token(self, name: str, role: str) -> str:
        """A new API token (the one line the command prints on stdout)."""
        done = self.keyark("server", "token", "create", "--name", name, "--role", role)
        lines = done.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kya_"), done.stdout
        assert "shown only this once" in done.stderr
        return lines[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    config = server_config(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "KEYARK_STATE_DIR": str(tmp_path / "elsewhere"),  # the config's state_dir wins
        "KEYARK_TEST_FAST_KDF": "1",
    }
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [keyark_binary(), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # ready when uvicorn says it listens
            seen.append(line)
            if "Uvicorn running on" in line or "Application startup complete" in line:
                break
        else:
            pytest.fail("keyark serve did not start: " + "".join(seen)[-3000:])
        # Keep reading its log so a full pipe never blocks the server.
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield Served(f"http://127.0.0.1:{port}", config, env)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_tokens_and_users_from_the_command_reach_the_server(served: Served) -> None:
    tokens = {role: served.token(f"ci-{role}", role) for role in ("viewer", "operator", "admin")}
    client = httpx.Client(base_url=served.url, timeout=60)

    def status(method: str, path: str, role: str, **more: object) -> int:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        return client.request(method, path, headers=headers, **more).status_code  # type: ignore[arg-type]

    assert status("GET", "/api/v1/jobs", "viewer") == 200
    assert status("GET", "/api/v1/snapshots", "viewer") == 403
    assert status("GET", "/api/v1/snapshots", "operator") == 200
    probe = {"json": {"role_matrix_probe": True}}
    assert status("POST", "/api/v1/forget", "operator", **probe) == 403
    assert status("POST", "/api/v1/forget", "admin", **probe) == 422  # allowed; bad input
    listed = json.loads(served.keyark("server", "token", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["ci-viewer", "ci-operator", "ci-admin"]
    assert listed[0]["last_used"] is not None and listed[1]["role"] == "operator"
    assert not any(token in json.dumps(listed) for token in tokens.values())
    served.keyark("server", "token", "revoke", "ci-viewer")
    assert status("GET", "/api/v1/jobs", "viewer") == 401  # at once, no restart
    # A dashboard user added by the command logs in (password from a file, never argv).
    secret = served.config.parent / "olga-password"
    secret.write_text("olga's password\n")
    served.keyark("server", "user", "add", "olga", "--role", "auditor", "--new-password-file",
                  str(secret))  # fmt: skip
    login = client.post("/api/v1/session", json={"username": "olga", "password": "olga's password"})
    assert login.status_code == 200 and login.json()["principal"] == "user:olga"
    assert client.get("/api/v1/audit/log").status_code == 200  # auditor, by the cookie
    client.close()
