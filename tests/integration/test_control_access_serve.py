"""Two real ``keyark serve`` processes (the installed keyark) on one PostgreSQL control
database, each with its own state directory: a token made by the CLI with the first's config
authenticates on the second, a session ended on one is refused on the other, and a host
enrolled through one is in the fleet listed through the other."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from tests.conftest import keyark_binary
from tests.serve_process import serve_process
from tests.server_fixtures import server_config


@dataclass(frozen=True)
class Instance:
    """One server: its config (own state directory, the shared database) and URL."""

    config: Path
    state: Path
    url: str

    def keyark(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The installed keyark with this instance's config and state directory."""
        command = [keyark_binary(), *args, "--config", str(self.config)]
        return subprocess.run(
            command, env=_environment(self.state), capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip


def _environment(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYARK_", "PG"))}
    return env | {"KEYARK_STATE_DIR": str(state), "KEYARK_TEST_FAST_KDF": "1"}


def _config_for(base: Path, root: Path, url: str) -> Path:
    """``base``'s config with its own state directory under ``root`` and ``url`` as the
    control database."""
    document = yaml.safe_load(base.read_text())
    root.mkdir(parents=True, exist_ok=True)
    document["scheduler"] = {"state_dir": str(root / "state")}
    document["audit"] = {"local_dir": str(root / "state" / "audit")}
    document["server"] = {"database": url}
    path = root / "keyark.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@contextmanager
def _serving(config: Path, state: Path) -> Iterator[str]:
    command = [keyark_binary(), "serve", "--config", str(config), "--listen", "127.0.0.1:0"]
    log = config.parent / "serve.log"
    with serve_process(command, _environment(state), log) as (url, _):
        yield url
    assert "Traceback" not in log.read_text()


@pytest.fixture
def instances(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Instance, Instance]]:
    base = server_config(tmp_path, backup=False)
    configs = [_config_for(base, tmp_path / name, postgres_url) for name in ("one", "two")]
    with ExitStack() as stack:
        found = []
        for config in configs:
            state = config.parent / "state"
            found.append(Instance(config, state, stack.enter_context(_serving(config, state))))
        yield found[0], found[1]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_made_through_one_instance_authenticates_on_the_other(
    instances: tuple[Instance, Instance],
) -> None:
    one, two = instances
    made = one.keyark("server", "token", "create", "--name", "ci", "--role", "admin")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert (
        httpx.get(two.url + "/api/v1/jobs", headers=_bearer(token), timeout=60).status_code == 200
    )
    # Positive control: a token of the right shape but a wrong secret is refused on both.
    bogus = token[:-1] + ("B" if token.endswith("A") else "A")
    for instance in (one, two):
        refused = httpx.get(instance.url + "/api/v1/jobs", headers=_bearer(bogus), timeout=60)
        assert refused.status_code == 401
    # Revoked through the other instance's CLI: refused on the first at once.
    assert two.keyark("server", "token", "revoke", "ci").returncode == 0
    assert (
        httpx.get(one.url + "/api/v1/jobs", headers=_bearer(token), timeout=60).status_code == 401
    )
    # Neither instance kept the tables in its own state directory.
    assert not (one.state / "state.db").exists() and not (two.state / "state.db").exists()


def test_a_session_ended_on_one_instance_is_refused_on_the_other(
    instances: tuple[Instance, Instance],
) -> None:
    one, two = instances
    secret = one.config.parent / "olga-password"
    secret.write_text("olga's password\n")
    secret.chmod(0o600)
    added = one.keyark(
        "server", "user", "add", "olga", "--role", "auditor", "--new-password-file", str(secret)
    )
    assert added.returncode == 0, added.stderr
    login = httpx.post(
        one.url + "/api/v1/session",
        json={"username": "olga", "password": "olga's password"},
        timeout=60,
    )
    assert login.status_code == 200, login.text
    cookie = {"Cookie": f"keyark_session={login.cookies['keyark_session']}"}
    csrf = login.json()["csrf_token"]
    whoami = httpx.get(two.url + "/api/v1/session", headers=cookie, timeout=60)
    assert whoami.status_code == 200 and whoami.json()["principal"] == "user:olga"
    ended = httpx.delete(
        one.url + "/api/v1/session", headers={**cookie, "X-CSRF-Token": csrf}, timeout=60
    )
    assert ended.status_code == 204
    assert httpx.get(two.url + "/api/v1/session", headers=cookie, timeout=60).status_code == 401


def test_a_host_enrolled_through_one_instance_is_listed_through_the_other(
    instances: tuple[Instance, Instance],
) -> None:
    one, two = instances
    issued = one.keyark("server", "agent", "enroll-token", "--host", "web-01", "--json")
    assert issued.returncode == 0, issued.stderr
    token = json.loads(issued.stdout)["token"]
    enrolled = httpx.post(two.url + "/api/v1/agents/enroll", json={"token": token}, timeout=120)
    assert enrolled.status_code == 200, enrolled.text
    # The token works once, whichever instance is asked the second time.
    again = httpx.post(one.url + "/api/v1/agents/enroll", json={"token": token}, timeout=120)
    assert again.status_code == 401
    listed = one.keyark("server", "agents", "--json")
    assert listed.returncode == 0, listed.stderr
    hosts = [agent["host"] for agent in json.loads(listed.stdout)]
    assert hosts == ["web-01"]
    # The report token issued by the second instance is accepted by the first.
    report_token = enrolled.json()["report_token"]
    pulled = httpx.get(one.url + "/api/v1/agents/config", headers=_bearer(report_token), timeout=60)
    assert pulled.status_code == 200
