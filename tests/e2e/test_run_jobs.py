"""``keyark run`` through the installed command: a job with ``copy_to`` an S3 repository
on the test S3 server, failing hooks and command sources, partial runs, dry runs, and
the history rows each run leaves (read from the state database directly)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import CLI, PASSWORD
from tests.e2e.remote import Remote, base_env, make_remote

from keyark.state.runs import RunStore


def _keyark(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``keyark`` with exactly ``env`` (no repository of the fixture's)."""
    return CLI(env, repo=Path(env.get("KEYARK_REPOSITORY", "")), cache=Path()).run(*args)


class Setup:
    """A config file with a local repository ``main`` (and others), its env and state."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.secret = tmp_path / "password"
        self.secret.write_text(PASSWORD)
        self.env = base_env(tmp_path / "cache")
        del self.env["KEYARK_PASSWORD"]  # the config names the password file
        self.env["KEYARK_TEST_FAST_KDF"] = "1"
        self.state = tmp_path / "state"
        self.config = tmp_path / "keyark.yaml"
        self.repositories: dict[str, dict[str, Any]] = {}
        self.source = tmp_path / "src"
        (self.source / "tls").mkdir(parents=True)
        (self.source / "tls" / "server.key").write_bytes(os.urandom(3000))
        self.add_local("main")

    def add_local(self, name: str) -> Path:
        location = self.tmp / name
        init_env = {**self.env, "KEYARK_PASSWORD": PASSWORD}
        result = _keyark(init_env, "-r", str(location), "init")
        assert result.returncode == 0, result.stderr
        self.repositories[name] = {"url": str(location), "password_file": str(self.secret)}
        return location

    def write(self, jobs: dict[str, Any]) -> None:
        document = {
            "version": 1,
            "repositories": self.repositories,
            "jobs": jobs,
            "scheduler": {"state_dir": str(self.state)},
        }
        self.config.write_text(yaml.safe_dump(document))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _keyark(self.env, "run", "--config", str(self.config), *args)

    def job(self, **fields: Any) -> dict[str, Any]:
        return {"repository": "main", "sources": [str(self.source)], **fields}

    def snapshots(self, name: str = "main") -> list[dict[str, Any]]:
        env = {**self.env, "KEYARK_PASSWORD": PASSWORD}
        result = _keyark(env, "-r", self.repositories[name]["url"], "snapshots", "--json")
        assert result.returncode == 0, result.stderr
        found: list[dict[str, Any]] = json.loads(result.stdout)
        return found

    def history(self) -> RunStore:
        return RunStore(self.state)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_run_copies_the_new_snapshot_to_s3_and_both_repositories_check(
    setup: Setup, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    s3: Remote = make_remote("s3", request, tmp_path)
    s3.run("init", check=True)
    setup.env.update({k: v for k, v in s3.env.items() if k.startswith("AWS_")})  # the emulator's
    endpoint = s3.flags[s3.flags.index("--s3-endpoint") + 1]
    setup.repositories["offsite"] = {
        "url": s3.url,
        "password_file": str(setup.secret),
        "s3": {"endpoint": endpoint},
    }
    commands = [{"path": "vault/raft.snap", "run": "echo raft-state"}]
    setup.write(
        {"tls": setup.job(copy_to=["offsite"], commands=commands, verify="full", tags=["tls"])}
    )

    result = setup.run("tls")

    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("backup", "verify", "copy offsite"):
        assert any(line.split()[0:1] == [step.split()[0]] for line in result.stdout.splitlines())
    assert "job tls: success" in result.stdout
    [local] = setup.snapshots()
    assert sorted(local["paths"]) == sorted([str(setup.source), "/vault/raft.snap"])
    assert len(json.loads(s3.run("snapshots", "--json", check=True).stdout)) == 1
    local_check = _keyark(
        {**setup.env, "KEYARK_PASSWORD": PASSWORD},
        "-r",
        setup.repositories["main"]["url"],
        "check",
        "--read-data",
    )
    assert local_check.returncode == 0, local_check.stderr
    s3.run("check", "--read-data", check=True)
    [row] = setup.history().runs("tls")
    assert (row.status, row.trigger, row.kind) == ("success", "manual", "backup")
    assert row.snapshot_id == local["id"] and row.finished is not None
    assert [s.name for s in row.steps] == ["backup", "verify", "copy offsite"]


def test_a_failing_hook_and_a_failing_command_source_exit_1(setup: Setup) -> None:
    setup.write(
        {
            "hooked": setup.job(hooks={"before": ["echo no; exit 2"]}),
            "dumped": setup.job(commands=[{"path": "db.sql", "run": "echo half; exit 5"}]),
            "fine": setup.job(),
        }
    )

    hooked = setup.run("hooked")
    dumped = setup.run("dumped", "--json")

    assert hooked.returncode == 1 and "job hooked: failed" in hooked.stdout
    assert "exited with status 2" in hooked.stdout
    assert dumped.returncode == 1
    [document] = json.loads(dumped.stdout)
    assert document["status"] == "failed" and document["error_code"] == "source"
    assert setup.snapshots() == []  # nothing half-written kept as a snapshot
    rows = {row.job: row for row in setup.history().runs()}
    assert rows["hooked"].error_code == "hook" and rows["dumped"].error_code == "source"
    # Control: a job without the failures in the same config succeeds.
    assert setup.run("fine").returncode == 0 and len(setup.snapshots()) == 1


def test_partial_exit_3_all_and_dry_run(setup: Setup) -> None:
    setup.write(
        {
            "partial": setup.job(sources=[str(setup.source), str(setup.tmp / "gone")]),
            "whole": setup.job(retention={"keep_last": 1}),
        }
    )

    dry = setup.run("--all", "--dry-run")
    assert dry.returncode == 0 and "would back up" in dry.stdout
    assert setup.snapshots() == [] and setup.history().runs() == []

    both = setup.run("--all")
    assert both.returncode == 3, both.stdout + both.stderr
    assert "job partial: partial" in both.stdout and "job whole: success" in both.stdout
    assert [row.status for row in setup.history().runs()] == ["partial", "success"]


def test_bad_requests_are_one_line_errors(setup: Setup) -> None:
    setup.write({"tls": setup.job()})
    for args, text in (
        ((), "name the job(s) to run, or use --all"),
        (("nope",), "no job named 'nope'"),
        (("tls", "--all"), "not both"),
    ):
        result = setup.run(*args)
        assert result.returncode == 1
        assert result.stderr.startswith("keyark: ") and text in result.stderr
        assert "Traceback" not in result.stderr
    missing = _keyark(setup.env, "run", "--config", str(setup.tmp / "absent.yaml"), "tls")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_forget_max_snapshots_keeps_the_newest_n(setup: Setup) -> None:
    setup.write({"tls": setup.job()})
    for _ in range(3):
        (setup.source / "tls" / "server.key").write_bytes(os.urandom(3000))
        assert setup.run("tls").returncode == 0
    made = [s["id"] for s in sorted(setup.snapshots(), key=lambda s: s["time"])]
    env = {**setup.env, "KEYARK_PASSWORD": PASSWORD}
    url = setup.repositories["main"]["url"]
    result = _keyark(env, "-r", url, "forget", "--max-snapshots", "2", "--json")
    assert result.returncode == 0, result.stderr
    [group] = json.loads(result.stdout)
    assert [s["id"] for s in group["remove"]] == made[:1]
    assert sorted(s["id"] for s in setup.snapshots()) == sorted(made[1:])
    refused = _keyark(env, "-r", url, "forget", "--max-snapshots", "0")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
