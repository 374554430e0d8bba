"""Every run of an enrolled agent's config reports (issue 18 §1): ``keyark run JOB`` and
the daemon with the agent's config, through the job runner; a server outage loses no
report (the outbox); the installed ``keyark`` against a real uvicorn server over TLS."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import keyark_binary
from tests.e2e.fleet_tls import self_signed, tls_server
from tests.polling import wait_until
from tests.server_fixtures import free_socket, server_config, settings_for

from keyark.config.loading import load_config_file
from keyark.fleet.registry import FleetRegistry
from keyark.server.settings import ServerSettings
from keyark.state.runs import RunStore

HOST = "db-01"
JOB = f"keys-{HOST}"
TRIGGER = f"agent:{HOST}"


@dataclass
class Site:
    """A server config with job ``keys-db-01`` (every second) for host ``db-01``, enrolled
    in ``agent``; the server is started and stopped by the tests, always on ``port``."""

    root: Path
    config: Path
    settings: ServerSettings
    port: int
    agent: Path

    def up(self, settings: ServerSettings | None = None) -> AbstractContextManager[str]:
        """The server (with ``settings``, default its own), on its port with its
        certificate (the one the agent pinned)."""
        return tls_server(settings or self.settings, self.port)

    def unassigned(self) -> ServerSettings:
        """The server's settings with a config that assigns the job to another host."""
        document = yaml.safe_load(self.config.read_text())
        document["jobs"][JOB]["host"] = "db-02"
        other = self.root / "unassigned.yaml"
        other.write_text(yaml.safe_dump(document))
        return replace(self.settings, config=load_config_file(other), config_path=other)

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
        return {
            **base,
            "KEYARK_TEST_FAST_KDF": "1",
            "KEYARK_STATE_DIR": str(self.root / HOST / "state"),
            "KEYARK_CACHE_DIR": str(self.root / HOST / "cache"),
        }

    def keyark(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The installed ``keyark ARGS`` on the host."""
        return subprocess.run(
            [keyark_binary(), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def run_job(self) -> subprocess.CompletedProcess[str]:
        """``keyark run keys-db-01`` with the agent's config (not ``agent run``)."""
        return self.keyark("run", JOB, "--config", str(self.agent / "keyark.yaml"))

    def reports(self) -> list[dict[str, Any]]:
        """The reports the server stored for the host."""
        return FleetRegistry(self.root / "state").reports(HOST)

    def agent_runs(self) -> int:
        """How many runs of the job the server's history holds from the agent's reports."""
        return sum(1 for run in RunStore(self.root / "state").runs(JOB) if run.trigger == TRIGGER)

    def outbox(self) -> list[dict[str, Any]]:
        path = self.agent / "outbox.json"
        return json.loads(path.read_text()) if path.exists() else []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("reports")
    data = root / HOST / "data"
    data.mkdir(parents=True)
    (data / "server.key").write_text("the key of db-01\n")
    jobs = {
        JOB: {"repository": "main", "host": HOST, "sources": [str(data)], "schedule": "every 1s"}
    }
    config = server_config(root, jobs=jobs, backup=False)
    cert, key, _ = self_signed(root, "server")
    settings = settings_for(config, tls_cert=cert, tls_key=key)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    built = Site(root, config, settings, port, root / HOST / "agent")
    with built.up():
        issued = subprocess.run(
            [keyark_binary(), "server", "agent", "enroll-token", "--host", HOST,
             "--config", str(config), "--json"],
            env={**built.env(), "KEYARK_STATE_DIR": str(root / "state")},
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        token = root / "token"
        token.write_text(json.loads(issued.stdout)["token"])
        token.chmod(0o600)
        enrolled = built.keyark(
            "agent", "enroll", "--server", f"https://127.0.0.1:{port}",
            "--token-file", str(token), "--dir", str(built.agent),
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
    yield built


def test_keyark_run_of_an_enrolled_config_reports(site: Site) -> None:
    with site.up():
        before = len(site.reports())
        done = site.run_job()
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr
        reports = site.reports()
        assert len(reports) == before + 1
        assert reports[-1]["job"] == JOB and reports[-1]["status"] == "success"
        listed = subprocess.run(
            [keyark_binary(), "server", "agents", "--config", str(site.config), "--json"],
            env={**site.env(), "KEYARK_STATE_DIR": str(site.root / "state")},
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        entry = next(a for a in json.loads(listed.stdout) if a["host"] == HOST)
        assert entry["last_report"] and entry["last_success"]
        assert site.outbox() == []


def test_a_daemon_tick_of_an_enrolled_config_reports(site: Site) -> None:
    with site.up():
        before = len(site.reports())
        daemon = subprocess.Popen(
            [keyark_binary(), "daemon", "--config", str(site.agent / "keyark.yaml")],
            env=site.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: len(site.reports()) > before or daemon.poll() is not None, 120, "a report"
            )
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(60)
        assert site.reports()[-1]["job"] == JOB


def test_a_report_waits_in_the_outbox_while_the_server_is_down(site: Site) -> None:
    with site.up():
        before = len(site.reports())
    down = site.run_job()  # the server is stopped
    assert down.returncode == 0, down.stderr  # the backup stands
    assert "warning:" in down.stderr and "not reported" in down.stderr
    assert len(site.outbox()) == 1
    assert stat.S_IMODE((site.agent / "outbox.json").stat().st_mode) == 0o600
    with site.up():
        back = site.run_job()
        assert back.returncode == 0, back.stderr
        reports = site.reports()
    assert len(reports) == before + 2  # the queued report arrived, then this run's
    assert reports[-2]["started"] < reports[-1]["started"]
    assert site.outbox() == []


def test_without_the_outbox_a_report_made_during_an_outage_is_lost(site: Site) -> None:
    """Positive control of the outbox: remove it while the server is down, and the report
    of the run made then never arrives."""
    with site.up():
        before = len(site.reports())
    down = site.run_job()
    assert down.returncode == 0, down.stderr
    (site.agent / "outbox.json").unlink()
    with site.up():
        back = site.run_job()
        assert back.returncode == 0, back.stderr
        assert len(site.reports()) == before + 1


def test_a_report_refused_for_good_does_not_block_the_others(site: Site) -> None:
    """A queued report the server refuses (its job no longer assigned: 403) leaves the
    outbox with a warning; the reports after it still arrive."""
    with site.up():
        before = len(site.reports())
    assert site.run_job().returncode == 0  # server down: queued
    with site.up(site.unassigned()):
        refused = site.run_job()
        assert refused.returncode == 0, refused.stderr  # the backup stands
        assert "no longer assigned" in refused.stderr and "refused" in refused.stderr
        assert len(site.reports()) == before
    assert site.outbox() == []  # both refused for good, neither kept
    with site.up():  # assigned again: the pulled config names the job again
        again = site.run_job()
        assert again.returncode == 0, again.stderr
        assert len(site.reports()) == before + 1
    assert JOB in yaml.safe_load((site.agent / "keyark.yaml").read_text())["jobs"]


def test_a_report_sent_again_after_a_lost_answer_is_stored_once(site: Site) -> None:
    """The agent keeps a report until the server's answer arrives; when the answer is lost
    it sends the report again: the server stores the run once (registry and history).
    Positive control: a report of another run (another start time) sent the same way is
    stored."""
    with site.up():
        sent = site.run_job()
        assert sent.returncode == 0, sent.stderr
        delivered = site.reports()[-1]
        before, runs_before = len(site.reports()), site.agent_runs()
    other_run = dict(delivered, started=delivered["finished"])
    path = site.agent / "outbox.json"
    path.write_text(json.dumps([delivered, other_run]))  # as if both answers were lost
    path.chmod(0o600)
    with site.up():
        again = site.run_job()
        assert again.returncode == 0, again.stderr
        # The resent report is taken and ignored; the other run and the new one are stored.
        assert len(site.reports()) == before + 2
        assert site.agent_runs() == runs_before + 2
    assert site.outbox() == []


def test_a_server_with_another_certificate_gets_no_report(site: Site) -> None:
    """``keyark run`` against a server presenting another certificate than the pinned one
    (sharing the real server's state, so a report sent would show): the backup stands,
    nothing is sent, the report waits for the real server."""
    cert, key, _ = self_signed(site.root, "impostor")
    impostor = replace(site.settings, tls_cert=cert, tls_key=key)
    with site.up():
        before = len(site.reports())
    with site.up(impostor):
        done = site.run_job()
        assert done.returncode == 0, done.stderr
        assert "not the one pinned" in done.stderr
        assert len(site.reports()) == before
    assert len(site.outbox()) == 1
    with site.up():  # positive control: the pinned certificate gets both reports
        assert site.run_job().returncode == 0
        assert len(site.reports()) == before + 2
