"""A config file for the monitoring tests, and ``keyark monitor`` through the installed command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.conftest import CLI, PASSWORD
from tests.e2e.remote import base_env


class Monitored:
    """Repositories, jobs and a state directory under ``root``; ``keyark`` runs with them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.password = root / "password"
        self.password.write_text(PASSWORD + "\n")
        self.password.chmod(0o600)
        self.env = base_env(root / "cache")
        del self.env["KEYARK_PASSWORD"]  # the config names the password file
        self.env["KEYARK_TEST_FAST_KDF"] = "1"
        self.state = root / "state"
        self.config = root / "keyark.yaml"
        self.repositories: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}
        self.source = root / "src"
        self.source.mkdir(exist_ok=True)
        (self.source / "notes.txt").write_text("tiny\n")

    def keyark(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The installed ``keyark`` with this setup's environment."""
        return CLI({**self.env, **(env or {})}, repo=Path(), cache=Path()).run(*args)

    def init_local(self, name: str) -> Path:
        """``keyark init`` a local repository ``name`` and add it to the config."""
        location = self.root / name
        result = self.keyark("-r", str(location), "init", env={"KEYARK_PASSWORD": PASSWORD})
        assert result.returncode == 0, result.stderr
        self.add_repository(name, str(location))
        return location

    def add_repository(self, name: str, url: str, **extra: Any) -> None:
        self.repositories[name] = {"url": url, "password_file": str(self.password), **extra}

    def write(self) -> None:
        document = {
            "version": 1,
            "repositories": self.repositories,
            "jobs": self.jobs,
            "scheduler": {"state_dir": str(self.state)},
            **self.extra,
        }
        self.config.write_text(yaml.safe_dump(document, sort_keys=False))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``keyark ARGS --config FILE``."""
        return self.keyark(*args, "--config", str(self.config))

    def check(self, *checks: str, record: bool = True) -> tuple[int, dict[str, Any]]:
        """``monitor check --json`` of ``checks``: (exit code, document)."""
        args = ["monitor", "check", "--json", *[f"--check={name}" for name in checks]]
        if not record:
            args.append("--no-alerts")
        result = self.run(*args)
        assert result.stdout.strip(), result.stderr
        return result.returncode, json.loads(result.stdout)

    def alerts(self, *args: str) -> list[dict[str, Any]]:
        result = self.run("monitor", "alerts", "--json", *args)
        assert result.returncode == 0, result.stderr
        found: list[dict[str, Any]] = json.loads(result.stdout)
        return found


def levels(document: dict[str, Any], check: str) -> dict[str, str]:
    """Subject -> level of one check's results."""
    return {r["subject"]: r["level"] for r in document["results"] if r["check"] == check}
