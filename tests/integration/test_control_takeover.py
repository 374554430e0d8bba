"""Two scheduler instances share a real PostgreSQL control database and one repository;
the one running a scheduled prune is killed with ``kill -9`` as soon as its history row
turns ``running``. The other takes the run over once the claim's lease expired and
finishes it; no scheduled time runs twice; ``check --read-data`` passes; the history shows
the takeover."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tests.conftest import CLI, PASSWORD
from tests.e2e.maint_cli import garbage_repository
from tests.polling import wait_until
from tests.postgres_fixtures import finished_takeovers, query_rows

LEASE = 3.0
ROOT = Path(__file__).resolve().parents[2]


def _instance(
    tmp_path: Path, name: str, config: Path, url: str, cli: CLI
) -> tuple[subprocess.Popen[bytes], Path]:
    state = tmp_path / f"state-{name}"
    log = tmp_path / f"{name}.log"
    env = dict(cli.env, KEYARK_STATE_DIR=str(state), PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.control_instance",
         str(config), str(state), url, str(LEASE)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    return process, log


def test_a_killed_instance_s_prune_is_taken_over_once(
    cli: CLI, tmp_path: Path, postgres_url: str
) -> None:
    garbage_repository(cli, tmp_path)
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o600)
    config = tmp_path / "keyark.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "repositories": {"main": {"url": str(cli.repo), "password_file": str(password)}},
                "maintenance": {"prune": {"schedule": "every 4s", "max_unused": "0%"}},
            }
        )
    )
    instances = [_instance(tmp_path, n, config, postgres_url, cli) for n in ("a", "b")]
    try:
        running = wait_until(
            lambda: query_rows(
                postgres_url,
                "SELECT r.id, r.scheduled, c.instance FROM runs r JOIN claims c"
                " ON c.task = r.job AND c.scheduled = r.scheduled"
                " WHERE r.job = 'maintenance.prune' AND r.status = 'running'",
            ),
            60,
            "a scheduled prune to start",
        )[0]
        victim_pid = int(running["instance"].split(":")[1])
        os.kill(victim_pid, signal.SIGKILL)
        (victim,) = [p for p, _ in instances if p.pid == victim_pid]
        victim.wait(10)
        (row,) = query_rows(postgres_url, "SELECT status FROM runs WHERE id = %s", running["id"])
        assert row["status"] == "running", "the prune ended before the kill: make it slower"

        def taken_over() -> list[dict[str, Any]]:
            return finished_takeovers(postgres_url, "maintenance.prune", running["scheduled"])

        (done,) = wait_until(taken_over, 60, "the other instance to take the prune over")
        assert done["status"] == "success", done
    finally:
        for process, _log in instances:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _log in instances:
            process.wait(60)

    logs = {log.name: log.read_text() for _p, log in instances}
    rows = query_rows(
        postgres_url, "SELECT * FROM runs WHERE job = 'maintenance.prune' ORDER BY id"
    )
    # the killed run: marked failed by the takeover, naming the dead instance
    (killed,) = [r for r in rows if r["id"] == running["id"]]
    assert (killed["status"], killed["error_code"]) == ("failed", "taken-over")
    assert running["instance"] in killed["error"]
    # nothing ran twice: one finished run per scheduled time
    finished = [r["scheduled"] for r in rows if r["status"] in ("success", "partial")]
    assert len(finished) == len(set(finished)), rows
    assert running["scheduled"] in finished
    (claim,) = query_rows(
        postgres_url, "SELECT * FROM claims WHERE scheduled = %s", running["scheduled"]
    )
    assert claim["state"] == "done" and claim["taken_over_from"] == running["instance"]
    assert any("taking over the run due at" in text for text in logs.values()), logs
    checked = cli.run("check", "--read-data")
    assert checked.returncode == 0, checked.stdout + checked.stderr
