"""The scheduler daemon end to end: the installed ``keyark daemon`` in the background and
in the foreground, its runs in ``history`` and ``snapshots``, kill -9 and catch-up, SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import CLI, keyark_binary
from tests.e2e.daemon_cli import Daemon, successes, wait_for


@pytest.fixture
def daemon(cli: CLI, tmp_path: Path) -> Daemon:
    cli.run("init", check=True)
    return Daemon(cli, tmp_path)


def test_start_run_two_jobs_stop(daemon: Daemon) -> None:
    daemon.write_config({"tls": {"schedule": "every 2s"}, "ssh": {"schedule": "every 3s"}})
    status = daemon.run("daemon", "status")
    assert status.returncode == 3 and "not running" in status.stdout
    pid = daemon.start()
    running = daemon.run("daemon", "status")
    assert running.returncode == 0 and f"pid {pid}" in running.stdout
    again = daemon.run("daemon", "start")
    assert again.returncode == 1 and "running already" in again.stderr
    foreground = daemon.run("daemon", timeout=30)  # a second daemon of this state: refused
    assert foreground.returncode == 1 and f"another keyark daemon (pid {pid})" in foreground.stderr
    assert "Traceback" not in foreground.stderr

    wait_for(
        lambda: all(len(successes(daemon.runs(), job)) >= 2 for job in ("tls", "ssh")),
        40,
        "two successful runs of each job",
    )
    schedule = json.loads(daemon.run("schedule", "--json", check=True).stdout)
    assert {row["name"] for row in schedule} == {"tls", "ssh"}
    for row in schedule:
        assert row["next"] is not None and row["schedule"] in ("every 2s", "every 3s")
    stopped = daemon.stop()
    assert f"stopped (pid {pid}" in stopped.stdout
    assert daemon.run("daemon", "status").returncode == 3
    assert not daemon.pid_file.exists()

    runs = daemon.history()
    # A run still going when the daemon stops is cancelled (its last one, at most).
    ended = [run for run in runs if not _cancelled_by_stop(run)]
    assert runs and all(run["status"] in ("success", "skipped") for run in ended), runs
    for job in ("tls", "ssh"):
        cancelled = [run for run in runs if run["job"] == job and _cancelled_by_stop(run)]
        assert len(cancelled) <= 1, cancelled
    for run in runs:
        assert {"job", "trigger", "status", "started", "finished", "snapshot_id"} <= set(run)
    snapshot_ids = {s["id"] for s in json.loads(daemon.cli.run("snapshots", "--json").stdout)}
    made = {run["snapshot_id"] for run in runs if run["status"] == "success"}
    assert made and made <= snapshot_ids
    assert {run["trigger"] for run in runs if run["status"] == "success"} == {"schedule"}
    log = daemon.log_text()
    assert "ready" in log and "SIGTERM: stopping" in log and log.rstrip().endswith("stopped")
    assert stat.S_IMODE(daemon.log.stat().st_mode) == 0o600
    audited = json.loads(daemon.cli.run("audit", "log", "--json").stdout)
    operations = [record["operation"] for record in audited]
    assert operations.count("daemon start") == 1 and operations.count("daemon stop") == 1
    assert operations.count("backup") >= 4, operations  # the scheduled runs, audited too


def _cancelled_by_stop(run: dict[str, Any]) -> bool:
    return run["status"] == "failed" and run.get("error_code") == "cancelled"


def blocking_command(root: Path) -> str:
    """A data source that, the first time, says it started and blocks until released."""
    started, release, once = root / "started", root / "release", root / "once"
    return (
        f"if [ ! -e {once} ]; then touch {once} {started}; i=0; "
        f"while [ ! -e {release} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; fi; "
        "echo dumped"
    )


def test_kill_9_mid_backup_then_restart_catches_up_once(daemon: Daemon) -> None:
    root = daemon.root
    daemon.write_config(
        {
            "vault": {
                "schedule": "every 4s",
                "commands": [{"path": "vault/raft.snap", "run": blocking_command(root)}],
            }
        }
    )
    daemon.start()
    wait_for((root / "started").exists, 120, "the backup to reach its data source")
    daemon.kill()  # mid-backup: the run is 'running' in the history, its lock in the repo
    (root / "release").touch()  # the orphaned data source ends
    assert any((daemon.cli.repo / "locks").iterdir())  # the killed backup's lock stays behind
    status = daemon.run("daemon", "status")
    assert status.returncode == 3 and "stale pid file" in status.stdout
    assert [run["status"] for run in daemon.runs()] == ["running"]

    daemon.start()
    wait_for(
        lambda: any(r["trigger"] == "catch-up" and r["status"] != "running" for r in daemon.runs()),
        120,
        "the catch-up run to end",
    )
    daemon.stop()
    runs = daemon.history()
    interrupted = runs[0]
    assert interrupted["status"] == "failed" and interrupted["snapshot_id"] is None, interrupted
    catch_up = [run for run in runs if run["trigger"] == "catch-up"]
    assert len(catch_up) == 1, runs  # once, not once per missed time
    assert catch_up[0]["status"] == "success" and catch_up[0]["snapshot_id"]
    snapshots = json.loads(daemon.cli.run("snapshots", "--json", check=True).stdout)
    assert catch_up[0]["snapshot_id"] in {s["id"] for s in snapshots}
    # the killed backup's lock names a dead process of this host: stale, so nothing needed
    # an unlock; the repository is whole
    checked = daemon.cli.run("check", "--read-data", "--json", check=True)
    assert json.loads(checked.stdout)["ok"]


def test_sighup_with_a_broken_config_keeps_the_old_one(daemon: Daemon) -> None:
    daemon.write_config({"tls": {"schedule": "every 1s"}})
    pid = daemon.start()
    wait_for(lambda: successes(daemon.runs(), "tls"), 120, "a first run")
    good = daemon.config.read_text()
    daemon.config.write_text(
        good.replace("every 1s", "every 1x").replace("version: 1", "version: 1\nbogus: 2")
    )
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "reload failed" in daemon.log_text(), 90, "the failed reload's log line")
    log = daemon.log_text()
    assert "keeping the running config" in log
    assert "jobs.tls.schedule" in log and "bogus" in log  # every problem, each on its line
    before = len(successes(daemon.runs(), "tls"))
    wait_for(lambda: len(successes(daemon.runs(), "tls")) > before, 90, "runs to go on")

    # positive control: a good config is taken (a new job appears and runs)
    daemon.write_config({"tls": {"schedule": "every 1s"}, "ssh": {"schedule": "every 1s"}})
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "reloaded" in daemon.log_text(), 90, "the reload")
    wait_for(lambda: successes(daemon.runs(), "ssh"), 120, "the new job's first run")
    daemon.stop()


def test_foreground_daemon_tells_systemd_and_sigterm_cancels_a_running_job(
    daemon: Daemon, tmp_path: Path
) -> None:
    root = daemon.root
    daemon.write_config(
        {
            "vault": {
                "schedule": "every 2s",
                "commands": [{"path": "vault/raft.snap", "run": blocking_command(root)}],
            }
        }
    )
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(30)
        env = dict(daemon.cli.env, NOTIFY_SOCKET=str(notify_path))
        process = subprocess.Popen(
            [keyark_binary(), "daemon", "--config", str(daemon.config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert notify.recv(100) == b"READY=1"
            assert int(daemon.pid_file.read_text()) == process.pid
            wait_for((root / "started").exists, 120, "the backup to reach its data source")
            began = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert notify.recv(100) == b"STOPPING=1"
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            (root / "release").touch()
    assert process.returncode == 0, stderr
    assert time.monotonic() - began < 30  # the job was cancelled, not waited for (60 s)
    assert "ready" in stderr and "SIGTERM" in stderr  # foreground: the log on stderr too
    assert not daemon.pid_file.exists()
    [run] = daemon.history()
    assert run["status"] == "failed" and run["error_code"] == "cancelled", run
    assert json.loads(daemon.cli.run("check", "--json", check=True).stdout)["ok"]
