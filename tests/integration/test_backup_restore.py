"""Backup and restore through the typed operations and the Python API."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import pytest
from tests.conftest import PASSWORD, make_tree, tree_state

from keyark import BackupManager
from keyark.archiver.backup import BackupOptions, backup
from keyark.catalog.snapshots import find_snapshot, list_snapshots
from keyark.context import OperationContext
from keyark.errors import SourceError, UsageError
from keyark.repo.repository import Repository
from keyark.restorer.run import RestoreOptions, restore


def test_round_trip_dedup_and_parent(
    repo: Repository, tmp_path: Path, context: OperationContext
) -> None:
    source = make_tree(tmp_path / "src")
    first = backup(repo, BackupOptions([str(source)]), context)
    assert first.complete and first.files_new == 6 and first.bytes_added > 0
    second = backup(repo, BackupOptions([str(source)]), context)
    assert second.parent == first.snapshot_id
    # Parent directories above the source may change (other processes), file data may not.
    assert second.files_unchanged == 6 and second.bytes_read == 0 and second.data_blobs == 0
    (source / "tls" / "server.key").write_text("rotated key\n")
    third = backup(repo, BackupOptions([str(source)]), context)
    assert third.files_changed == 1 and third.files_unchanged == 5
    snapshot = find_snapshot(repo, "latest", context)
    target = tmp_path / "out"
    summary = restore(repo, snapshot, RestoreOptions(str(target), verify=True), context)
    assert summary.files_verified == 6
    assert tree_state(target / source.relative_to("/")) == tree_state(source)


def test_dry_run_writes_nothing(
    repo: Repository, tmp_path: Path, context: OperationContext
) -> None:
    source = make_tree(tmp_path / "src")
    before = sorted(i.name for i in repo.backend.list(""))
    summary = backup(repo, BackupOptions(paths=[str(source)], dry_run=True), context)
    assert summary.dry_run and summary.files_new == 6 and summary.bytes_added > 0
    assert sorted(i.name for i in repo.backend.list("")) == before


def test_excludes_tags_host_compression(
    repo: Repository, tmp_path: Path, context: OperationContext
) -> None:
    source = make_tree(tmp_path / "src")
    options = BackupOptions(
        paths=[str(source)],
        tags=["tls"],
        host="web-1",
        excludes=["*.bin"],
        compression="lzma",
    )
    summary = backup(repo, options, context)
    assert summary.files_new == 5
    [snap] = list_snapshots(repo, context)
    assert snap.host == "web-1" and snap.tags == ["tls"]


def test_missing_sources(repo: Repository, tmp_path: Path, context: OperationContext) -> None:
    with pytest.raises(SourceError, match="none of the source paths exist"):
        backup(repo, BackupOptions([str(tmp_path / "nope")]), context)
    source = make_tree(tmp_path / "src")
    summary = backup(repo, BackupOptions([str(source), str(tmp_path / "nope")]), context)
    assert not summary.complete and "does not exist" in summary.errors[0]


def test_sockets_skipped_with_warning(
    repo: Repository, tmp_path: Path, context: OperationContext
) -> None:
    import socket

    source = make_tree(tmp_path / "src")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(source / "agent.sock"))
    os.mkfifo(source / "fifo")
    try:
        summary = backup(repo, BackupOptions([str(source)]), context)
    finally:
        sock.close()
    # The socket is skipped with a note; the FIFO is stored (issue 9).
    assert summary.complete and len(summary.warnings) == 1 and "socket" in summary.warnings[0]


def test_restore_include_exclude_overwrite(
    repo: Repository, tmp_path: Path, context: OperationContext
) -> None:
    source = make_tree(tmp_path / "src")
    backup(repo, BackupOptions([str(source)]), context)
    snap = find_snapshot(repo, "latest", context)
    target = tmp_path / "out"
    restore(repo, snap, RestoreOptions(str(target), includes=["*.key"]), context)
    restored = target / source.relative_to("/")
    assert sorted(p.name for p in restored.rglob("*") if p.is_file()) == ["server.key"]
    (restored / "tls" / "server.key").write_text("local edit")
    summary = restore(
        repo, snap, RestoreOptions(str(target), includes=["*.key"], overwrite="never"), context
    )
    assert summary.files_skipped == 1
    assert (restored / "tls" / "server.key").read_text() == "local edit"
    restore(repo, snap, RestoreOptions(str(target), includes=["*.key"]), context)
    assert (restored / "tls" / "server.key").read_text().startswith("-----BEGIN")
    with pytest.raises(UsageError):
        restore(repo, snap, RestoreOptions(str(target), overwrite="bogus"), context)


def test_hard_links_restored(repo: Repository, tmp_path: Path, context: OperationContext) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a").write_text("shared")
    os.link(source / "a", source / "b")
    backup(repo, BackupOptions([str(source)]), context)
    target = tmp_path / "out"
    restore(repo, find_snapshot(repo, "latest", context), RestoreOptions(str(target)), context)
    restored = target / source.relative_to("/")
    assert (restored / "a").stat().st_ino == (restored / "b").stat().st_ino


def test_point_in_time(repo: Repository, tmp_path: Path, context: OperationContext) -> None:
    from datetime import datetime, timedelta

    source = make_tree(tmp_path / "src")
    old = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    backup(repo, BackupOptions(paths=[str(source)], time=old), context)
    (source / "empty").write_text("now not empty")
    backup(repo, BackupOptions(paths=[str(source)], time=old + timedelta(days=1)), context)
    chosen = find_snapshot(repo, None, context, at=old + timedelta(hours=1))
    assert chosen.time == old


def test_python_api(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    config = tmp_path / "keyark.yaml"
    config.write_text(
        f"repository: {tmp_path / 'repo'}\npassword_file: {password_file}\n"
        f"cache_dir: {tmp_path / 'cache'}\n"
    )
    manager = BackupManager(config_file=config)
    manager.init()
    summary = manager.create_backup([source], tags=["api"])
    assert summary.complete and summary.snapshot_id
    listed = manager.list_backups(tags=["api"])
    assert [s.id for s in listed] == [summary.snapshot_id]
    restored = manager.restore_backup(listed[0], tmp_path / "out", include=["*.crt"], verify=True)
    assert restored.files_restored == 1
    assert manager.check(read_data=True).ok
    same = BackupManager(
        repository=str(tmp_path / "repo"), password=PASSWORD, cache_dir=tmp_path / "cache2"
    )
    assert [s.id for s in same.list_backups()] == [summary.snapshot_id]


def test_api_config_errors(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("password_file: a\nbogus: 1\n")
    with pytest.raises(UsageError) as error:
        BackupManager(config_file=config)
    assert "bogus" in str(error.value) and "repository" in str(error.value)  # all errors at once
    config.write_text("repository: /x\npassword_file: a\npassword_env: B\n")
    with pytest.raises(UsageError, match="exactly one"):
        BackupManager(config_file=config)
