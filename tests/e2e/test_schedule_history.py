"""``keyark schedule`` (table, --json, install) and ``keyark history`` (filters, --json),
through the installed command, on runs made by ``keyark run``."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path

import pytest
from tests.conftest import CLI
from tests.e2e.daemon_cli import Daemon


@pytest.fixture
def daemon(cli: CLI, tmp_path: Path) -> Daemon:
    cli.run("init", check=True)
    found = Daemon(cli, tmp_path)
    found.write_config(
        {
            "tls": {"schedule": "0 2 * * *"},
            "ssh": {"schedule": "every 6h"},
            "adhoc": {},
            "broken": {"sources": [str(tmp_path / "missing")], "schedule": "every 30s"},
        },
        scheduler={"timezone": "Asia/Tokyo"},
    )
    return found


def test_history_lists_runs_and_filters_them(daemon: Daemon) -> None:
    assert daemon.history() == []
    assert "no runs recorded" in daemon.run("history", check=True).stdout
    daemon.run("run", "tls", check=True)
    daemon.run("run", "ssh", check=True)
    assert daemon.run("run", "broken").returncode == 1
    runs = daemon.history()
    assert [(r["job"], r["trigger"], r["status"]) for r in runs] == [
        ("tls", "manual", "success"),
        ("ssh", "manual", "success"),
        ("broken", "manual", "failed"),
    ]
    for run in runs:
        assert {"job", "trigger", "status", "started", "finished", "snapshot_id"} <= set(run)
        assert datetime.fromisoformat(run["started"]) <= datetime.fromisoformat(run["finished"])
    assert [r["job"] for r in daemon.history("ssh")] == ["ssh"]
    assert [r["job"] for r in daemon.history("--status", "failed")] == ["broken"]
    assert len(daemon.history("--since", "1h")) == 3
    assert daemon.history("--since", "2999-01-01") == []
    table = daemon.run("history", check=True).stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "Job", "Trigger", "Status"]
    failed = next(line for line in table if " broken " in line)
    error = runs[2]["error"]
    assert error and error in failed  # the whole error, never cut
    assert runs[0]["snapshot_id"][:8] in table[1]
    bad = daemon.run("history", "--since", "yesterday-ish")
    assert bad.returncode == 1 and bad.stderr.startswith("keyark: since 'yesterday-ish'")


def test_schedule_shows_last_run_and_next_time_in_the_configured_zone(daemon: Daemon) -> None:
    daemon.run("run", "tls", check=True)
    rows = {row["name"]: row for row in json.loads(daemon.run("schedule", "--json").stdout)}
    assert set(rows) == {"tls", "ssh", "adhoc", "broken"}
    tls = rows["tls"]
    assert tls["schedule"] == "0 2 * * *" and tls["last_status"] == "success"
    following = datetime.fromisoformat(tls["next"])
    assert (following.hour, following.minute) == (2, 0)
    offset = following.utcoffset()
    assert offset is not None and offset.total_seconds() == 9 * 3600
    assert rows["adhoc"]["next"] is None and rows["adhoc"]["last"] is None
    text = daemon.run("schedule", check=True).stdout
    assert "JST" in text and "(by hand)" in text and "success" in text


def test_schedule_install_cron_and_systemd(daemon: Daemon, tmp_path: Path) -> None:
    refused = daemon.run("schedule", "install", "--cron")
    assert refused.returncode == 1
    assert "broken ('every 30s')" in refused.stderr and "Traceback" not in refused.stderr
    daemon.write_config({"tls": {"schedule": "0 2 * * *"}, "ssh": {"schedule": "every 6h"}})
    lines = daemon.run("schedule", "install", "--cron", check=True).stdout.splitlines()
    config = str(daemon.config)
    assert any(
        line.startswith("0 2 * * * /") and f"run tls --config {config}" in line for line in lines
    )
    assert any(line.startswith("0 */6 * * * /") and "run ssh" in line for line in lines)
    # the unit: printed, or written where systemd's user manager reads it
    printed = daemon.run("schedule", "install", "--systemd", "--user", "--print", check=True)
    assert "Type=notify" in printed.stdout and f"daemon --config {config}" in printed.stdout
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    written = daemon.cli.run(
        "schedule", "install", "--systemd", "--user", "--config", config, env=env, check=True
    )
    unit = tmp_path / "xdg" / "systemd" / "user" / "keyark.service"
    assert str(unit) in written.stdout and "systemctl --user enable --now" in written.stdout
    assert unit.read_text().rstrip() == printed.stdout.rstrip()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    start = next(line for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
    assert os.path.isabs(start.split("=", 1)[1].split()[0])
    both = daemon.run("schedule", "install", "--systemd", "--cron")
    assert both.returncode == 1 and "choose one" in both.stderr
