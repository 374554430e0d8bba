"""Full disks: a full cache disk never stops backup or restore; a full repository disk
still lets check and restore run, and prune make room for its lock.

Before: a full cache disk made backup and restore fail with ``unexpected error:
OperationalError: database or disk is full``; at 100% full on the repository disk,
check and prune could not even write their lock. Each test asserts the disk really is
100% full (the positive control for the condition) before running the commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import CLI, mounted_tmpfs, tree_state


def _fill(directory: Path) -> None:
    """Fill the file system of ``directory`` to 100% (big blocks, then single bytes)."""
    for block, name in ((64 * 1024, "fill-blocks"), (1, "fill-bytes")):
        with open(directory / name, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * block)
            except OSError:
                pass
    assert os.statvfs(directory).f_bavail == 0, "positive control: the disk is full"


@pytest.fixture
def full_cache(cli: CLI) -> Iterator[Path]:
    with mounted_tmpfs(cli.cache, "2m") as mount_point:
        yield mount_point


def _source(root: Path, files: int = 3, size: int = 200_000) -> Path:
    root.mkdir(exist_ok=True)
    for i in range(files):
        (root / f"id{i}.key").write_bytes(os.urandom(size))
    return root


@pytest.mark.parametrize("history", ["existing catalog", "empty cache"])
def test_full_cache_disk_does_not_stop_backup_or_restore(
    cli: CLI, tmp_path: Path, full_cache: Path, history: str
) -> None:
    source = _source(tmp_path / "src")
    cli.run("init", check=True)
    if history == "existing catalog":
        cli.run("backup", str(source), check=True)
    _fill(full_cache)
    (source / "new.key").write_bytes(os.urandom(5000))
    backed_up = cli.run("backup", str(source))
    assert backed_up.returncode == 0, backed_up.stderr
    assert "unexpected error" not in backed_up.stderr
    assert f"cache directory {full_cache} is full" in backed_up.stderr
    assert "--no-cache" in backed_up.stderr and "--cache-dir" in backed_up.stderr
    target = tmp_path / "out"
    restored = cli.run("restore", "latest", "--target", str(target))
    assert restored.returncode == 0, restored.stderr
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
    cli.run("check", "--read-data", check=True)
    cli.run("prune", check=True)
    listed = cli.run("snapshots", "--json", check=True)
    assert listed.stdout.count('"id"') == (2 if history == "existing catalog" else 1)


def test_no_cache_writes_no_catalog(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path / "src", files=1)
    cli.run("init", check=True)
    cli.run("backup", "--no-cache", str(source), check=True)
    cli.run("--no-cache", "snapshots", check=True)
    assert not list(cli.cache.rglob("catalog.sqlite"))
    cli.run("backup", str(source), check=True)  # positive control: without it, there is one
    assert list(cli.cache.rglob("catalog.sqlite"))


def test_full_repository_disk_check_restore_and_prune_run(cli: CLI, tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "disk", "3m") as disk:
        repo_dir = disk / "repo"
        env = {"KEYARK_REPOSITORY": str(repo_dir)}
        source = _source(tmp_path / "src", files=1, size=300_000)
        cli.run("init", "--pack-size", "1", env=env, check=True)
        cli.run("backup", str(source), env=env, check=True)
        big = _source(tmp_path / "big", files=6, size=1024 * 1024)
        failed = cli.run("backup", str(big), env=env)  # fills the disk, leaves unindexed packs
        assert failed.returncode != 0 and "disk full" in failed.stderr
        _fill(disk)
        assert not list((repo_dir / "locks").iterdir())

        checked = cli.run("check", env=env)
        assert checked.returncode == 0, checked.stderr
        assert "without a lock" in checked.stderr
        target = tmp_path / "out"
        restored = cli.run("restore", "latest", "--target", str(target), env=env)
        assert restored.returncode == 0, restored.stderr
        assert tree_state(target / source.relative_to("/")) == tree_state(source)

        packs_before = sum(1 for _ in (repo_dir / "data").rglob("*") if _.is_file())
        pruned = cli.run("prune", "--max-unused", "0%", env=env)  # the command itself, at 100%
        assert pruned.returncode == 0, pruned.stderr
        packs_after = sum(1 for _ in (repo_dir / "data").rglob("*") if _.is_file())
        assert packs_after < packs_before  # the failed backup's unindexed packs went
        assert os.statvfs(disk).f_bavail > 0
        cli.run("check", "--read-data", env=env, check=True)
        assert not list((repo_dir / "locks").iterdir())
