"""A full disk stops the backup with one clear line and leaves the repository consistent."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import CLI, mounted_tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "disk") as mount_point:
        yield mount_point


def test_disk_full_during_backup(cli: CLI, tmp_path: Path, small_disk: Path) -> None:
    repo = small_disk / "repo"
    env = {"KEYARK_REPOSITORY": str(repo)}
    source = tmp_path / "src"
    source.mkdir()
    (source / "small.key").write_text("key material")
    cli.run("init", "--pack-size", "1", env=env, check=True)
    cli.run("backup", str(source), env=env, check=True)
    for i in range(6):
        (source / f"big{i}.bin").write_bytes(os.urandom(1024 * 1024))
    result = cli.run("backup", str(source), env=env)
    assert result.returncode == 1
    assert "disk full" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not [p for p in repo.rglob(".tmp-*")]  # no partial files left behind
    checked = cli.run("check", "--read-data", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(json.loads(cli.run("snapshots", "--json", env=env).stdout)) == 1
