"""Damage, check, prune's refusal, repair, and unindexed packs through the installed command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CLI, PASSWORD
from tests.e2e.maint_cli import (
    assert_one_line_error,
    backup_json,
    init_small,
    objects,
    write_random,
)

from keyark import ops
from keyark.crypto.slots import Credentials
from keyark.repo.index import MasterIndex
from keyark.repo.pack import BLOB_KINDS, DATA, pack_name
from keyark.repo.packer import Packer
from keyark.repo.repository import Repository
from keyark.repo.tree import DIR, FILE


def open_repo(cli: CLI) -> Repository:
    repo = ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))
    repo.blobs.load_index()
    return repo


def packs_of_file(repo: Repository, snapshot_id: str, path: str) -> set[bytes]:
    tree = repo.snapshots.load(snapshot_id).tree
    parts = path.strip("/").split("/")
    for part in parts[:-1]:
        tree = next(
            n.subtree for n in repo.blobs.load_tree(tree) if n.name == part and n.type == DIR
        )  # type: ignore[assignment]
    node = next(n for n in repo.blobs.load_tree(tree) if n.name == parts[-1] and n.type == FILE)
    return {repo.blobs.index.get(b).pack_id for b in node.content}  # type: ignore[union-attr]


def test_damage_check_refused_prune_repair(cli: CLI, tmp_path: Path) -> None:
    init_small(cli)
    source = write_random(tmp_path / "src", {f"keys/k{i}.pem": 3000 for i in range(4)})
    first = backup_json(cli, str(source))["snapshot_id"]
    write_random(source, {"vault.snap": 1_300_000})
    second = backup_json(cli, str(source))["snapshot_id"]
    lost_file = f"{source}/vault.snap"
    repo = open_repo(cli)
    try:
        lost = packs_of_file(repo, second, lost_file)
    finally:
        repo.close()
    for pack_id in lost:
        (cli.repo / pack_name(pack_id)).unlink()

    result = cli.run("check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert errors and all("pack is missing from storage" in line for line in errors)
    assert all(f"affects snapshots {second[:8]}" in line for line in errors)
    assert all(f"files {lost_file}" in line for line in errors)
    assert first[:8] not in result.stdout
    assert "check found" in result.stderr

    before = objects(cli.repo)
    line = assert_one_line_error(cli.run("prune"))
    assert "missing from storage" in line and "deleted nothing" in line
    assert "keyark check" in line and "keyark repair" in line
    assert_one_line_error(cli.run("forget", "--keep-last", "1", "--prune"))
    assert objects(cli.repo) == before  # forget --prune refused before forgetting anything

    cli.run("repair", "index", check=True)
    dry = cli.run("repair", "snapshots", "--dry-run", check=True)
    assert f"{lost_file} is damaged" in dry.stdout and "would be repaired" in dry.stdout
    repaired = cli.run("repair", "snapshots", "--forget", check=True)
    assert f"snapshot {second[:8]}: {lost_file} is damaged; replaced by an empty marker" in (
        repaired.stdout
    )
    assert "original removed" in repaired.stdout
    checked = json.loads(cli.run("check", "--read-data", "--json", check=True).stdout)
    assert checked["ok"] and checked["snapshots"] == 2
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), check=True)
    restored = target / str(source).lstrip("/")
    assert (restored / "vault.snap.keyark-damaged").read_bytes() == b""
    assert not (restored / "vault.snap").exists()
    for i in range(4):
        assert (restored / f"keys/k{i}.pem").read_bytes() == (
            source / f"keys/k{i}.pem"
        ).read_bytes()
    cli.run("prune", check=True)
    assert cli.run("check", "--read-data", check=True).returncode == 0


def test_unindexed_pack_is_a_note_then_pruned(cli: CLI, tmp_path: Path) -> None:
    init_small(cli)
    source = write_random(tmp_path / "src", {"a": 5000})
    cli.run("backup", str(source), check=True)
    repo = open_repo(cli)
    try:  # what a backup killed between pack upload and index write leaves
        packer = Packer(
            repo.backend, MasterIndex(), repo.blobs.current_sealer, repo.config.pack_size
        )
        packer._maybe_write_index = lambda force=False: None  # type: ignore[method-assign]
        blob = b"orphan" * 5000
        blob_id = repo.blobs.hasher(blob)
        packer.add(
            DATA,
            blob_id,
            repo.blobs.current_sealer().seal_bare(BLOB_KINDS[DATA], blob_id, blob),
            len(blob),
            0,
        )
        packer.flush()
        packer.close()
    finally:
        repo.close()
    result = cli.run("check", check=True)
    assert "note: pack data/" in result.stdout and "not in any index" in result.stdout
    assert "no errors were found" in result.stdout
    pruned = cli.run("prune", check=True)
    assert "1 unindexed pack " in pruned.stdout and "deleted 1 pack," in pruned.stdout
    assert "not in any index" not in cli.run("check", check=True).stdout
