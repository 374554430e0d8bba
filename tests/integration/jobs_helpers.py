"""Helpers of the job-runner tests: a config with local repositories, a run, its history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import PASSWORD

from keyark import ops
from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials
from keyark.repo.repository import Repository
from keyark.storage import open_repository


def make_config(
    tmp_path: Path, jobs: dict[str, Any], *, repositories: tuple[str, ...] = ("main",), **extra: Any
) -> KeyarkConfig:
    """A config whose repositories (new, local, under ``tmp_path``) share a password file."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    entries = {}
    for name in repositories:
        location = tmp_path / name
        if not location.exists():
            ops.init_repository(str(location), PASSWORD.encode(), pack_size_mib=1).close()
        entries[name] = {"url": str(location), "password_file": str(secret)}
    document = {
        "version": 1,
        "repositories": entries,
        "jobs": jobs,
        "scheduler": {"state_dir": str(tmp_path / "state")},
        **extra,
    }
    return KeyarkConfig.model_validate(document)


def run_task(
    tmp_path: Path,
    config: KeyarkConfig,
    task: str,
    ctx: OperationContext | None = None,
    **options: Any,
) -> ops.JobRun:
    """Run ``task`` through the catalogue entry, as every face does."""
    ctx = ctx or OperationContext(cache_dir=tmp_path / "cache")
    return ops.run(ctx, ops.RunOptions(config, task, **options))


def opened(tmp_path: Path, name: str = "main") -> Repository:
    """The named local repository, opened with the full key."""
    return open_repository(str(tmp_path / name), Credentials(passphrase=PASSWORD.encode()))


def snapshot_ids(tmp_path: Path, name: str = "main") -> list[str]:
    repo = opened(tmp_path, name)
    try:
        return sorted(repo.snapshots.ids())
    finally:
        repo.close()


def check_ok(tmp_path: Path, name: str = "main") -> None:
    """The repository passes a check that reads every pack."""
    repo = opened(tmp_path, name)
    try:
        from keyark.maintenance.check import CheckOptions, check

        summary = check(repo, CheckOptions(read_data=True), OperationContext())
    finally:
        repo.close()
    assert summary.ok, summary.problems


def steps(result: ops.JobRun) -> dict[str, str]:
    """Step name -> status."""
    return {step.name: step.status for step in result.record.steps}
