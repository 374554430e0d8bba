"""The daemon runs ``maintenance.drill`` on its schedule: each run drills the job's newest
snapshot, records the task's run and the job's drill (trigger ``schedule``), and the
scratch directories are gone afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import CLI
from tests.e2e.daemon_cli import Daemon, wait_for


@pytest.fixture
def daemon(cli: CLI, tmp_path: Path) -> Daemon:
    cli.run("init", check=True)
    return Daemon(cli, tmp_path)


def test_the_daemon_runs_a_scheduled_drill(daemon: Daemon) -> None:
    scratch = daemon.root / "scratch"
    drill = {"schedule": "every 1s", "sample": "50%", "target": str(scratch)}
    daemon.write_config({"web": {}}, maintenance={"drill": drill})
    daemon.run("run", "web", check=True)  # the snapshot the drills restore
    daemon.start()
    try:
        wait_for(
            lambda: any(
                run["job"] == "drill:web" and run["status"] == "success" for run in daemon.runs()
            ),
            60,
            "a successful scheduled drill of job web",
        )
    finally:
        daemon.stop()
    runs = daemon.runs()
    drills = [run for run in runs if run["job"] == "drill:web" and run["status"] != "running"]
    assert drills and all(run["kind"] == "drill" for run in drills)
    assert {run["trigger"] for run in drills} <= {"schedule", "catch-up"}
    assert drills[0]["status"] == "success" and drills[0]["snapshot_id"]
    tasks = [run for run in runs if run["job"] == "maintenance.drill"]
    assert tasks and tasks[0]["status"] == "success"
    assert tasks[0]["steps"][0]["name"] == "drill web"
    assert list(scratch.iterdir()) == [], "every drill removed its scratch directory"
