"""The catalog forgets names of forgotten snapshots; the cache is private (issue 8 §9).

The catalog (SQLite under the cache directory) held every file name of every
snapshot it had browsed, forever: after ``forget`` the names of the forgotten
snapshot's files were still in the database file. Here a snapshot holding a
uniquely named file is browsed, forgotten, and the raw bytes of the catalog's
files are searched for that name.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from tests.conftest import CLI

from keyark.cache_dir import private_directory

SECRET_NAME = "h5-acquisition-target-megacorp.key"
KEPT_NAME = "h5-still-here.crt"


def _catalog_bytes(cache: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(cache.rglob("catalog.sqlite*")) if p.is_file())


def test_forgotten_snapshot_names_leave_the_catalog(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / KEPT_NAME).write_text("kept\n")
    (source / SECRET_NAME).write_text("gone soon\n")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    first = json.loads(cli.run("snapshots", "--json", check=True).stdout)[0]["id"]
    (source / SECRET_NAME).unlink()
    cli.run("backup", str(source), check=True)
    for snapshot in json.loads(cli.run("snapshots", "--json", check=True).stdout):
        cli.run("ls", snapshot["id"], check=True)  # loads both trees into the catalog
    # positive control: the name is in the catalog once that snapshot was browsed
    assert SECRET_NAME.encode() in _catalog_bytes(cli.cache)

    cli.run("forget", first, check=True)
    cli.run("snapshots", check=True)  # syncs the catalog with the repository
    stored = _catalog_bytes(cli.cache)
    assert SECRET_NAME.encode() not in stored
    assert KEPT_NAME.encode() in stored  # the remaining snapshot is still catalogued
    listing = cli.run("ls", "latest", check=True).stdout
    assert KEPT_NAME in listing and SECRET_NAME not in listing


def test_cache_directories_0700_and_files_0600(cli: CLI, tmp_path: Path) -> None:
    cache = tmp_path / "deep" / "er" / "cache"
    env = {"KEYARK_CACHE_DIR": str(cache)}
    old_umask = os.umask(0o022)
    try:
        cli.run("init", check=True, env=env)
        cli.run("snapshots", check=True, env=env)
    finally:
        os.umask(old_umask)
    created = [tmp_path / "deep", tmp_path / "deep" / "er", cache]
    created += [p for p in cache.rglob("*") if p.is_dir()]
    for directory in created:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert any(p.name == "catalog.sqlite" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_private_directory_makes_every_missing_parent_0700(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        (tmp_path / "plain").mkdir(parents=True)
        # positive control: pathlib's parents=True leaves the parents at the umask's mode
        (tmp_path / "p1" / "p2").mkdir(mode=0o700, parents=True)
        assert stat.S_IMODE((tmp_path / "p1").stat().st_mode) == 0o755
        private_directory(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old_umask)
    for path in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o755  # existing: untouched
