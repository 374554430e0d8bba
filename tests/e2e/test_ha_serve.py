"""Two installed ``keyark serve --with-daemon`` processes share a real PostgreSQL control
database (``server.database``) and one repository.

- The instance whose scheduled prune's history row turns ``running`` is killed with
  ``kill -9`` (the row is watched in PostgreSQL); the survivor takes the run over once the
  claim's lease expired (trigger ``takeover``) and finishes it; no scheduled time finishes
  twice; ``check --read-data`` passes; both instances' ``/api/v1/history`` show the same
  history.
- A failing scheduled job: both instances' monitors see its failures and the checks'
  level changes, and a webhook receives each alert (key and level) once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.conftest import CLI, PASSWORD, keyark_binary
from tests.e2e.maint_cli import garbage_repository, init_small
from tests.e2e.test_serve import _wait_listening
from tests.polling import wait_until
from tests.postgres_fixtures import finished_takeovers, query_rows

#: The prune's history row of one scheduled time, with the claim's holder.
RUNNING_PRUNE = (
    "SELECT r.id, r.scheduled, r.pid, c.instance FROM runs r JOIN claims c"
    " ON c.task = r.job AND c.scheduled = r.scheduled"
    " WHERE r.job = 'maintenance.prune' AND r.status = 'running'"
)


@dataclass
class Instance:
    """One ``keyark serve --with-daemon`` process."""

    name: str
    process: subprocess.Popen[str]
    url: str
    token: str
    log: Path

    def history(self) -> list[dict[str, Any]]:
        """``GET /api/v1/history`` of the prune task."""
        response = httpx.get(
            self.url + "/api/v1/history",
            params={"job": "maintenance.prune"},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows


def _config(cli: CLI, tmp_path: Path, database: str, **more: Any) -> Path:
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o600)
    config = tmp_path / "keyark.yaml"
    document = {
        "version": 1,
        "repositories": {"main": {"url": str(cli.repo), "password_file": str(password)}},
        "maintenance": {"prune": {"schedule": "every 4s", "max_unused": "0%"}},
        "server": {"database": database},
        "metrics": {"listen": "127.0.0.1:0"},
        **more,
    }
    config.write_text(yaml.safe_dump(document))
    return config


def _environment(cli: CLI, tmp_path: Path, name: str) -> dict[str, str]:
    env = {k: v for k, v in cli.env.items() if not k.startswith("KEYARK_")}
    env["KEYARK_TEST_FAST_KDF"] = "1"
    env["KEYARK_STATE_DIR"] = str(tmp_path / f"state-{name}")
    env["KEYARK_CACHE_DIR"] = str(tmp_path / f"cache-{name}")
    return env


@contextmanager
def _serving(cli: CLI, tmp_path: Path, config: Path, name: str) -> Iterator[Instance]:
    env = _environment(cli, tmp_path, name)
    made = subprocess.run(
        [keyark_binary(), "server", "token", "create", "--config", str(config),
         "--name", f"ha-{name}", "--role", "admin"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    log_path = tmp_path / f"serve-{name}.log"
    log = log_path.open("w+")
    process = subprocess.Popen(
        [keyark_binary(), "serve", "--config", str(config), "--listen", "127.0.0.1:0",
         "--with-daemon"],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = _wait_listening(process, log)
        # the scheduler is ready (its start-up look at the history is over): the pid file
        wait_until(
            lambda: (Path(env["KEYARK_STATE_DIR"]) / "daemon.pid").exists() or process.poll(),
            120,
            f"the scheduler of {name} to be ready",
        )
        assert process.poll() is None, log_path.read_text()
        yield Instance(name, process, url, token, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_two_servers_take_a_killed_instance_s_prune_over_once(
    cli: CLI, tmp_path: Path, postgres_url: str
) -> None:
    garbage_repository(cli, tmp_path)
    config = _config(cli, tmp_path, postgres_url)
    with ExitStack() as stack:
        instances = [stack.enter_context(_serving(cli, tmp_path, config, n)) for n in "ab"]
        running = wait_until(
            lambda: query_rows(postgres_url, RUNNING_PRUNE), 120, "a scheduled prune to start"
        )[0]
        (victim,) = [i for i in instances if i.process.pid == running["pid"]]
        (survivor,) = [i for i in instances if i is not victim]
        assert f":{victim.process.pid}:" in running["instance"]
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait(30)
        (row,) = query_rows(postgres_url, "SELECT status FROM runs WHERE id = %s", running["id"])
        assert row["status"] == "running", "the prune ended before the kill: make it slower"

        def taken_over() -> list[dict[str, Any]]:
            return finished_takeovers(postgres_url, "maintenance.prune", running["scheduled"])

        (done,) = wait_until(taken_over, 120, "the survivor to take the prune over")
        assert done["status"] == "success", done
        assert done["pid"] == survivor.process.pid
        # the survivor's API shows the takeover; a second server on the same database
        # (restarted in the victim's place) shows the same history
        with _serving(cli, tmp_path, config, f"{victim.name}2") as restarted:
            seen = [survivor.history(), restarted.history()]
        ids = [[run["id"] for run in rows if run["id"] <= done["id"]] for rows in seen]
        assert ids[0] == ids[1] and done["id"] in ids[0]
        shown = {run["id"]: run for run in seen[0]}
        assert shown[done["id"]]["trigger"] == "takeover"
        assert shown[running["id"]]["error_code"] == "taken-over"
        survivor.process.send_signal(signal.SIGTERM)
        assert survivor.process.wait(120) == 0

    rows = query_rows(
        postgres_url, "SELECT * FROM runs WHERE job = 'maintenance.prune' ORDER BY id"
    )
    (killed,) = [r for r in rows if r["id"] == running["id"]]
    assert (killed["status"], killed["error_code"]) == ("failed", "taken-over")
    assert running["instance"] in killed["error"]
    finished = [r["scheduled"] for r in rows if r["status"] in ("success", "partial")]
    assert len(finished) == len(set(finished)), rows
    (claim,) = query_rows(
        postgres_url, "SELECT * FROM claims WHERE scheduled = %s", running["scheduled"]
    )
    assert claim["state"] == "done" and claim["taken_over_from"] == running["instance"]
    assert "taking over the run due at" in survivor.log.read_text()
    assert "Traceback" not in survivor.log.read_text()
    checked = cli.run("check", "--read-data")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@contextmanager
def _webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1: its URL and the alerts it got."""
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", received
    finally:
        server.shutdown()
        server.server_close()


def test_two_servers_raise_and_send_each_alert_once(
    cli: CLI, tmp_path: Path, postgres_url: str
) -> None:
    init_small(cli)
    missing = tmp_path / "not-there"
    with _webhook() as (url, received):
        config = _config(
            cli,
            tmp_path,
            postgres_url,
            maintenance={},
            jobs={"broken": {"repository": "main", "sources": [str(missing)],
                             "schedule": "every 2s"}},
            monitor={"interval": "2s"},
            notifications=[{"type": "webhook", "name": "hook", "url": url,
                            "min_level": "warning", "retries": 0}],
        )  # fmt: skip
        with ExitStack() as stack:
            for name in "ab":
                stack.enter_context(_serving(cli, tmp_path, config, name))

            def failed_runs() -> int:
                rows = query_rows(postgres_url, "SELECT id FROM runs WHERE status = 'failed'")
                return len(rows)

            wait_until(lambda: any(a["key"] == "job:broken" for a in received), 120, "a job alert")
            seen = failed_runs()
            # both monitors had several more looks at failures and check rounds
            wait_until(lambda: failed_runs() >= seen + 4, 120, "four more failed runs")
    alerts = query_rows(postgres_url, "SELECT * FROM alerts ORDER BY id")
    sent = Counter((a["key"], a["level"]) for a in received)
    assert sent and max(sent.values()) == 1, sent
    assert ("job:broken", "critical") in sent, sent
    # each run's failure raised once across both servers; each level change once
    jobs = [a for a in alerts if a["kind"] == "job"]
    assert len(jobs) <= failed_runs(), (len(jobs), failed_runs())
    # a level change seen by both servers is raised once: per key, never the same level twice
    # in a row (a check may flap: WARNING, resolved, WARNING is three changes)
    changes = [a for a in alerts if a["kind"] in ("transition", "resolved")]
    assert changes, alerts
    last: dict[str, int] = {}
    for change in changes:
        assert last.get(change["key"]) != change["level"], changes
        last[change["key"]] = change["level"]
    deliveries = query_rows(
        postgres_url, "SELECT * FROM deliveries WHERE status IN ('pending', 'sent')"
    )
    queued = Counter((d["key"], d["level"]) for d in deliveries)
    assert max(queued.values()) == 1, deliveries
