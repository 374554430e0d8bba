"""The daemon's monitor loop: a failing scheduled job raises a job alert and a
``last_run`` transition in the alert history, a channel that refuses is recorded and
``daemon status`` shows it; a backup never waits for a delivery."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.conftest import CLI
from tests.e2e.daemon_cli import Daemon, wait_for

from keyark.monitor.alert_store import AlertStore


@pytest.fixture
def daemon(cli: CLI, tmp_path: Path) -> Daemon:
    cli.run("init", check=True)
    return Daemon(cli, tmp_path)


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_daemon_raises_alerts_and_shows_failed_deliveries(daemon: Daemon) -> None:
    port = _closed_port()
    daemon.write_config(
        {"flaky": {"schedule": "every 2s", "hooks": {"before": ["false"]}}},
        monitor={"interval": "1s"},
        notifications=[
            {
                "type": "webhook",
                "name": "refusing",
                "min_level": "warning",
                "url": f"http://127.0.0.1:{port}/hook",
                "retries": 0,
                "timeout": "2s",
            }
        ],
    )
    daemon.start()
    try:
        store = AlertStore(daemon.state)

        def raised() -> bool:
            if not store.path.exists():
                return False
            keys = {(alert.key, alert.kind) for alert in store.alerts()}
            return {("job:flaky", "job"), ("last_run:flaky", "transition")} <= keys

        wait_for(raised, 60, "the job alert and the last_run transition")
        wait_for(lambda: store.deliveries(status="failed"), 60, "a failed delivery to be recorded")
        status = daemon.run("daemon", "status")
        assert status.returncode == 0, status.stderr
        assert "failed alert deliveries" in status.stdout
        assert "refusing:" in status.stdout
        # the job kept running on schedule while deliveries failed
        runs = [run for run in daemon.runs() if run["job"] == "flaky"]
        assert len([run for run in runs if run["status"] == "failed"]) >= 1
        assert "health checks:" in daemon.log_text()
    finally:
        daemon.stop()
    [job_alert, *_] = [a for a in store.alerts() if a.key == "job:flaky"]
    assert job_alert.level.label == "critical" and "failed" in job_alert.title
    # a level that holds alerts once: one last_run transition however many runs failed
    transitions = [a for a in store.alerts() if a.key == "last_run:flaky"]
    assert len(transitions) == 1
