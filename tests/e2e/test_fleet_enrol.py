"""Enrolled agents (issue 18 §1) end to end: a real uvicorn server over TLS (self-signed
certificates made here), the installed ``keyark`` enrolling, running and reporting in
subprocesses, the certificate pinned at enrolment, one-time tokens, ``server agents``
and the central ``backup_age`` alert of a silent agent."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.conftest import PASSWORD, keyark_binary
from tests.e2e.fleet_tls import self_signed, tls_server
from tests.server_fixtures import server_config, settings_for


@dataclass
class Fleet:
    """A server config (repository ``main``, jobs for hosts web-01..web-03), the server
    over TLS with the right certificate (``url``) and a second one with another
    certificate over the same state (``impostor``)."""

    root: Path
    config: Path
    url: str
    impostor: str
    fingerprint: str

    def keyark(self, *args: str, agent: str | None = None, **env: str) -> Any:
        """The installed ``keyark ARGS``: as the admin (the config's password) or, with
        ``agent``, as that host (no password, its own state directory)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
        base["KEYARK_TEST_FAST_KDF"] = "1"
        if agent is None:
            base["KEYARK_STATE_DIR"] = str(self.root / "state")
            base["KEYARK_CACHE_DIR"] = str(self.root / "cache")
        else:
            base["KEYARK_STATE_DIR"] = str(self.root / agent / "state")
            base["KEYARK_CACHE_DIR"] = str(self.root / agent / "cache")
        return subprocess.run(
            [keyark_binary(), *args],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def token(self, host: str, expires: str = "1h") -> Path:
        """A new enrolment token for ``host`` in a 0600 file."""
        done = self.keyark(
            "server", "agent", "enroll-token", "--host", host, "--expires", expires,
            "--config", str(self.config), "--json",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["host"] == host and document["token"].startswith("kye_")
        path = self.root / f"token-{host}-{time.monotonic_ns()}"
        path.write_text(document["token"])
        path.chmod(0o600)
        return path

    def enroll(self, host: str, token: Path, directory: Path, url: str | None = None) -> Any:
        """``keyark agent enroll`` on ``host`` (exit code checked by the caller)."""
        return self.keyark(
            "agent", "enroll", "--server", url or self.url, "--token-file", str(token),
            "--dir", str(directory), "--json", agent=host,
        )  # fmt: skip

    def agents(self) -> dict[str, dict[str, Any]]:
        """``keyark server agents --json`` by host."""
        done = self.keyark("server", "agents", "--config", str(self.config), "--json")
        assert done.returncode == 0, done.stderr
        return {entry["host"]: entry for entry in json.loads(done.stdout)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    for host in ("web-01", "web-02", "web-03"):
        (root / host / "data").mkdir(parents=True)
        (root / host / "data" / "server.key").write_text(f"the key of {host}\n")
    jobs = {
        f"keys-{host}": {"repository": "main", "host": host, "sources": [str(root / host / "data")]}
        for host in ("web-01", "web-02", "web-03")
    }
    monitor = {"monitor": {"thresholds": {"backup_age_warning_hours": 1}}}
    config = server_config(root, jobs=jobs, extra=monitor, backup=False)
    right_cert, right_key, fingerprint = self_signed(root, "right")
    wrong_cert, wrong_key, _ = self_signed(root, "wrong")
    right = settings_for(config, tls_cert=right_cert, tls_key=right_key)
    wrong = settings_for(config, tls_cert=wrong_cert, tls_key=wrong_key)
    with ExitStack() as stack:
        url = stack.enter_context(tls_server(right))
        impostor = stack.enter_context(tls_server(wrong))
        yield Fleet(root, config, url, impostor, fingerprint)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_enrolment_gives_a_write_only_credential_and_the_hosts_jobs(fleet: Fleet) -> None:
    directory = fleet.root / "web-01" / "agent"
    done = fleet.enroll("web-01", fleet.token("web-01"), directory)
    assert done.returncode == 0, done.stderr
    enrolled = json.loads(done.stdout)
    assert enrolled["host"] == "web-01" and enrolled["agent"] == "web-01"
    assert enrolled["jobs"] == ["keys-web-01"]  # only the jobs naming this host
    assert enrolled["fingerprint"] == fleet.fingerprint
    for name in ("credential.json", "keyark.yaml", "server.json"):
        assert _mode(directory / name) == 0o600, name
    assert _mode(directory) == 0o700
    credential = json.loads((directory / "credential.json").read_text())
    assert credential["hosts"] == ["web-01"]
    assert PASSWORD not in (directory / "keyark.yaml").read_text()
    listed = fleet.keyark(
        "agent", "list", "--json", "--repo", str(fleet.root / "main"), KEYARK_PASSWORD=PASSWORD
    )
    assert listed.returncode == 0, listed.stderr
    assert [a["hosts"] for a in json.loads(listed.stdout) if a["name"] == "web-01"] == [["web-01"]]
    assert "web-01" in fleet.agents()
    # the credential passed through no file of the server (it is held in memory only)
    assert not (fleet.root / "state" / "fleet-pending").exists()
    state_files = [p for p in (fleet.root / "state").rglob("*") if p.is_file()]
    assert not [p for p in state_files if credential["signing_key"].encode() in p.read_bytes()]


def test_an_enrolment_token_works_once(fleet: Fleet) -> None:
    token = fleet.token("web-02")
    first = fleet.enroll("web-02", token, fleet.root / "web-02" / "agent")
    assert first.returncode == 0, first.stderr
    again = fleet.enroll("web-02", token, fleet.root / "web-02" / "again")
    assert again.returncode != 0
    assert "enrolment token is not valid" in again.stderr
    assert not (fleet.root / "web-02" / "again" / "credential.json").exists()


def test_the_agent_runs_reports_and_shows_in_the_fleet(fleet: Fleet) -> None:
    directory = fleet.root / "web-03" / "agent"
    enrolled = fleet.enroll("web-03", fleet.token("web-03"), directory)
    assert enrolled.returncode == 0, enrolled.stderr
    done = fleet.keyark("agent", "run", "--dir", str(directory), "--json", agent="web-03")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reported"] == 1
    assert [run["status"] for run in result["runs"]] == ["success"]
    entry = fleet.agents()["web-03"]
    assert entry["last_report"] and entry["last_success"] and entry["version"]
    # the backup is in the repository, written with the write-only credential
    snapshots = fleet.keyark(
        "snapshots", "--json", "--repo", str(fleet.root / "main"), KEYARK_PASSWORD=PASSWORD,
    )  # fmt: skip
    assert snapshots.returncode == 0, snapshots.stderr
    assert any(s.get("hostname") == "web-03" for s in json.loads(snapshots.stdout))


def _point_at(directory: Path, url: str) -> None:
    server = json.loads((directory / "server.json").read_text())
    server["server"] = url
    (directory / "server.json").write_text(json.dumps(server))


def test_another_certificate_is_refused_after_pinning(fleet: Fleet) -> None:
    directory = fleet.root / "web-01" / "agent"
    if not (directory / "server.json").exists():
        done = fleet.enroll("web-01", fleet.token("web-01"), directory)
        assert done.returncode == 0, done.stderr
    before = fleet.agents()["web-01"]["last_report"]
    _point_at(directory, fleet.impostor)  # same address, now another certificate
    refused = fleet.keyark("agent", "run", "--dir", str(directory), agent="web-01")
    assert refused.returncode != 0
    assert "not the one pinned" in refused.stderr
    # the impostor shares the real server's state: a report sent would have shown
    assert fleet.agents()["web-01"]["last_report"] == before
    _point_at(directory, fleet.url)  # positive control: the pinned certificate works
    accepted = fleet.keyark("agent", "run", "--dir", str(directory), agent="web-01")
    assert accepted.returncode == 0, accepted.stderr
    assert fleet.agents()["web-01"]["last_report"] != before


def _report(fleet: Fleet, host: str, job: str, finished: dt.datetime) -> httpx.Response:
    server = json.loads((fleet.root / host / "agent" / "server.json").read_text())
    document = {
        "job": job,
        "status": "success",
        "started": (finished - dt.timedelta(seconds=5)).isoformat(),
        "finished": finished.isoformat(),
        "bytes_added": 10,
        "version": "test",
    }
    headers = {"Authorization": f"Bearer {server['report_token']}"}
    with httpx.Client(verify=False, timeout=60) as client:  # the test's self-signed certificate
        return client.post(fleet.url + "/api/v1/agents/report", json=document, headers=headers)


def _backup_age(fleet: Fleet, job: str) -> str:
    done = fleet.keyark(
        "monitor", "check", "--json", "--check=backup_age", "--no-alerts",
        "--config", str(fleet.config),
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr
    results = json.loads(done.stdout)["results"]
    return str(next(r["level"] for r in results if r["subject"] == job))


def test_a_silent_agent_raises_backup_age_centrally(fleet: Fleet) -> None:
    directory = fleet.root / "web-02" / "agent"
    if not (directory / "server.json").exists():
        done = fleet.enroll("web-02", fleet.token("web-02"), directory)
        assert done.returncode == 0, done.stderr
    now = dt.datetime.now(dt.UTC)
    assert _report(fleet, "web-02", "keys-web-02", now - dt.timedelta(hours=3)).status_code == 200
    assert _backup_age(fleet, "keys-web-02") in {"warning", "critical"}
    # control: a fresh report clears it
    assert _report(fleet, "web-02", "keys-web-02", now).status_code == 200
    assert _backup_age(fleet, "keys-web-02") == "ok"


def test_reports_are_refused_for_other_hosts_jobs_and_bad_tokens(fleet: Fleet) -> None:
    directory = fleet.root / "web-02" / "agent"
    if not (directory / "server.json").exists():
        done = fleet.enroll("web-02", fleet.token("web-02"), directory)
        assert done.returncode == 0, done.stderr
    now = dt.datetime.now(dt.UTC)
    assert _report(fleet, "web-02", "keys-web-01", now).status_code == 403
    future = _report(fleet, "web-02", "keys-web-02", now + dt.timedelta(hours=1))
    assert future.status_code in {400, 422}
    with httpx.Client(verify=False, timeout=60) as client:  # the test's self-signed certificate
        anonymous = client.post(fleet.url + "/api/v1/agents/report", json={})
        assert anonymous.status_code == 401
        server = json.loads((directory / "server.json").read_text())
        auth = {"Authorization": f"Bearer {server['report_token']}"}
        first = client.get(fleet.url + "/api/v1/agents/config", headers=auth)
        assert first.status_code == 200 and first.json()["assignment"]["jobs"].keys() == {
            "keys-web-02"
        }
        etag = first.headers["etag"]
        same = client.get(
            fleet.url + "/api/v1/agents/config", headers={**auth, "If-None-Match": etag}
        )
        assert same.status_code == 304


def test_the_agent_pulls_a_changed_config_before_running(fleet: Fleet) -> None:
    directory = fleet.root / "web-03" / "agent"
    if not (directory / "server.json").exists():
        done = fleet.enroll("web-03", fleet.token("web-03"), directory)
        assert done.returncode == 0, done.stderr
    unchanged = fleet.keyark("agent", "run", "--dir", str(directory), "--json", agent="web-03")
    assert unchanged.returncode == 0, unchanged.stderr
    assert json.loads(unchanged.stdout)["config_changed"] is False
    more = fleet.root / "web-03" / "more"
    more.mkdir(exist_ok=True)
    (more / "extra.pem").write_text("another key\n")
    document = yaml.safe_load(fleet.config.read_text())
    document["jobs"]["keys-web-03"]["sources"].append(str(more))
    fleet.config.write_text(yaml.safe_dump(document))
    changed = fleet.keyark("agent", "run", "--dir", str(directory), "--json", agent="web-03")
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["config_changed"] is True
    assigned = yaml.safe_load((directory / "keyark.yaml").read_text())
    assert str(more) in assigned["jobs"]["keys-web-03"]["sources"]
    assert stat.S_IMODE((directory / "keyark.yaml").stat().st_mode) == 0o600


def test_revoking_a_host_revokes_its_agent_and_report_token(fleet: Fleet) -> None:
    host = "web-04"
    directory = fleet.root / host / "agent"
    done = fleet.enroll(host, fleet.token(host), directory)
    assert done.returncode == 0, done.stderr
    now = dt.datetime.now(dt.UTC)
    # control: before revocation the token is accepted (job not assigned: 403, not 401)
    assert _report(fleet, host, "keys-web-01", now).status_code == 403
    revoked = fleet.keyark(
        "server", "agent", "revoke", host, "--config", str(fleet.config),
        "--repo", str(fleet.root / "main"), "--json", KEYARK_PASSWORD=PASSWORD,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked"]
    assert fleet.agents()[host]["revoked"]
    assert _report(fleet, host, "keys-web-01", now).status_code == 401
    refused = fleet.keyark("agent", "run", "--dir", str(directory), agent=host)
    assert refused.returncode != 0 and "report token" in refused.stderr
