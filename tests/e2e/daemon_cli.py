"""A config file with jobs on a tiny tree, and the installed ``keyark`` daemon verbs around it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.conftest import CLI, PASSWORD
from tests.polling import wait_until

from keyark.state.runs import RunStore


@dataclass
class Daemon:
    """One config (repository ``main`` = the ``cli`` fixture's) and its state directory."""

    cli: CLI
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "keyark.yaml"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def log(self) -> Path:
        return self.state / "daemon.log"

    @property
    def pid_file(self) -> Path:
        return self.state / "daemon.pid"

    def write_config(self, jobs: dict[str, dict[str, Any]], **extra: Any) -> None:
        """The config: repository ``main``, these jobs (each backs up ``source`` unless
        it says otherwise), state under ``root/state``."""
        password = self.root / "password"
        password.write_text(PASSWORD + "\n")
        password.chmod(0o600)
        document = {
            "version": 1,
            "repositories": {"main": {"url": str(self.cli.repo), "password_file": str(password)}},
            "jobs": {
                name: {"repository": "main", "sources": [str(self.source)], **job}
                for name, job in jobs.items()
            },
            "scheduler": {"state_dir": str(self.state), **extra.pop("scheduler", {})},
            **extra,
        }
        self.config.write_text(yaml.safe_dump(document, sort_keys=False))

    @property
    def source(self) -> Path:
        tree = self.root / "src"
        if not tree.exists():
            (tree / "tls").mkdir(parents=True)
            (tree / "tls" / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n")
            (tree / "notes.txt").write_text("tiny\n")
        return tree

    def run(
        self, *args: str, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``keyark ARGS --config FILE``."""
        return self.cli.run(*args, "--config", str(self.config), check=check, timeout=timeout)

    def history(self, *args: str) -> list[dict[str, Any]]:
        """``keyark history --json ARGS``."""
        found = self.run("history", "--json", *args, check=True)
        runs: list[dict[str, Any]] = json.loads(found.stdout)
        return runs

    def runs(self) -> list[dict[str, Any]]:
        """The history read in this process (cheap enough to poll; the verb is tested apart)."""
        return [record.to_dict() for record in RunStore(self.state).runs()]

    def start(self) -> int:
        started = self.run("daemon", "start", check=True)
        pid = int(self.pid_file.read_text())
        assert f"pid {pid}" in started.stdout
        return pid

    def stop(self) -> subprocess.CompletedProcess[str]:
        return self.run("daemon", "stop", check=True)

    def kill(self) -> None:
        """``kill -9`` of the daemon's process group (leaves its pid file behind)."""
        pid = int(self.pid_file.read_text())
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), 10, f"daemon {pid} to die")

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    wait_until(condition, timeout, what, poll=0.2)


def successes(runs: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    return [run for run in runs if run["job"] == job and run["status"] == "success"]
