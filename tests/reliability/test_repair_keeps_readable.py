"""Issue 9, section 2: repair keeps what is readable; restore writes what it can reach.

- A data pack truncated to half: ``repair index`` used to drop the whole pack (its
  header is gone) and ``repair snapshots --forget`` + ``prune`` then deleted files
  that were still readable. Now the readable blobs are salvaged into new packs.
- One damaged tree blob or index file made ``restore`` write nothing. Now it
  writes everything it can reach and names what it could not (``dir/...``).
- ``restore latest`` kept choosing a damaged original over its repaired snapshot.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD

from keyark import ops
from keyark.archiver.backup import BackupOptions, backup
from keyark.catalog.snapshots import find_snapshot
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials
from keyark.errors import RestoreError
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.prune import prune
from keyark.maintenance.prune_plan import PruneOptions
from keyark.maintenance.repair import repair_index
from keyark.maintenance.repair_snapshots import RepairSnapshotsOptions, repair_snapshots
from keyark.repo.pack import DATA, pack_name
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, select_snapshot
from keyark.repo.tree import DIR
from keyark.restorer.run import RestoreOptions, restore

PACK_SIZE = 24 * 1024


def _open(url: Path) -> Repository:
    return ops.open_repository(str(url), Credentials(passphrase=PASSWORD.encode()))


def _corpus(source: Path) -> dict[str, str]:
    rng = random.Random(2)
    files: dict[str, str] = {}
    for number in range(40):
        rel = f"dir{number % 4}/file{number:02d}.pem"
        data = rng.randbytes(rng.randint(900, 2600))
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
        files[rel] = hashlib.sha256(data).hexdigest()
    return files


def _make(tmp_path: Path, repo_path: Path) -> tuple[Path, dict[str, str], str]:
    """A repository of 40 small files in 4 directories, packed small; (source, hashes, id)."""
    source = tmp_path / "src"
    files = _corpus(source)
    ops.init_repository(str(repo_path), PASSWORD.encode(), pack_size_mib=1).close()
    with _open(repo_path) as repo:
        repo.blobs.pack_size = PACK_SIZE  # this session only: several packs
        snapshot_id = backup(repo, BackupOptions([str(source)]), OperationContext()).snapshot_id
    return source, files, snapshot_id


def _restore(repo_path: Path, source: Path, files: dict[str, str], out: Path) -> int:
    """Restore ``latest``; the number of files with the right content (never a wrong one)."""
    with _open(repo_path) as repo:
        snapshot = find_snapshot(repo, "latest", OperationContext(cache_dir=out / ".cache"))
        try:
            restore(repo, snapshot, RestoreOptions(str(out)), OperationContext())
        except RestoreError:
            pass
    root = out / str(source).lstrip("/")
    good = 0
    for rel, digest in files.items():
        path = root / rel
        if path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, rel
            good += 1
    return good


def _fullest_data_pack(repo_path: Path) -> bytes:
    with _open(repo_path) as repo:
        repo.blobs.load_index()
        counts: dict[bytes, int] = {}
        for location in repo.blobs.index.locations():
            if location.kind == DATA:
                counts[location.pack_id] = counts.get(location.pack_id, 0) + 1
    return max(counts, key=lambda pack_id: counts[pack_id])


def test_truncated_pack_is_salvaged_and_nothing_readable_is_lost(tmp_path: Path) -> None:
    repo_path = tmp_path / "repo"
    source, files, _ = _make(tmp_path, repo_path)
    assert _restore(repo_path, source, files, tmp_path / "control") == len(files)  # control
    victim = _fullest_data_pack(repo_path)
    path = repo_path / pack_name(victim)
    data = path.read_bytes()
    path.chmod(0o600)
    path.write_bytes(data[: len(data) // 2])
    before = _restore(repo_path, source, files, tmp_path / "before")
    assert 0 < before < len(files)

    with _open(repo_path) as repo:
        summary = repair_index(repo)
    assert summary.damaged_packs == 1 and summary.blobs_salvaged > 0 and summary.blobs_lost > 0
    assert path.exists(), "repair deleted a damaged pack"
    assert _restore(repo_path, source, files, tmp_path / "after-index") == before

    with _open(repo_path) as repo:
        assert not check(repo).ok  # the lost blobs are still reported
    with _open(repo_path) as repo:
        repair_snapshots(repo, RepairSnapshotsOptions(forget=True))
    with _open(repo_path) as repo:
        prune(repo, PruneOptions())
    assert _restore(repo_path, source, files, tmp_path / "after-prune") == before
    with _open(repo_path) as repo:
        assert check(repo, CheckOptions(read_data=True)).ok


def test_repair_packs_salvages_then_unindexes(tmp_path: Path, cli: CLI) -> None:
    source, files, _ = _make(tmp_path, cli.repo)
    victim = _fullest_data_pack(cli.repo)
    path = cli.repo / pack_name(victim)
    data = path.read_bytes()
    path.chmod(0o600)
    path.write_bytes(data[: len(data) // 2])
    before = _restore(cli.repo, source, files, tmp_path / "before")

    result = cli.run("repair", "packs", victim.hex()[:12])
    assert result.returncode == 0, result.stderr
    assert "salvaged" in result.stdout and "could not be saved" in result.stdout
    with _open(cli.repo) as repo:
        repo.blobs.load_index()
        assert victim not in repo.blobs.index.packs()
    assert path.exists()
    assert _restore(cli.repo, source, files, tmp_path / "after") == before
    wrong = cli.run("repair", "packs", "zz")
    assert wrong.returncode == 1 and "no pack match" in wrong.stderr


def _tree_location(repo: Repository, snapshot_id: str, name: str) -> tuple[bytes, int, int]:
    """(pack id, offset, length) of directory ``name``'s tree blob (below the source)."""
    repo.blobs.load_index()
    tree = repo.snapshots.load(snapshot_id).tree
    while True:
        nodes = repo.blobs.load_tree(tree)
        match = next((n for n in nodes if n.name == name and n.type == DIR), None)
        if match is not None and match.subtree is not None:
            location = repo.blobs.index.get(match.subtree)
            assert location is not None
            return location.pack_id, location.offset, location.length
        tree = next(n.subtree for n in nodes if n.type == DIR and n.subtree is not None)


def test_restore_writes_what_it_can_reach_and_names_the_rest(tmp_path: Path, cli: CLI) -> None:
    source, files, snapshot_id = _make(tmp_path, cli.repo)
    with _open(cli.repo) as repo:
        pack_id, offset, length = _tree_location(repo, snapshot_id, "dir2")
    path = cli.repo / pack_name(pack_id)
    data = bytearray(path.read_bytes())
    data[offset + length // 2] ^= 0x01  # one flipped byte inside one tree blob
    path.chmod(0o600)
    path.write_bytes(bytes(data))

    out = tmp_path / "out"
    result = cli.run("restore", "latest", "--target", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{source}/dir2/...: cannot read this directory" in result.stderr
    root = out / str(source).lstrip("/")
    for rel, digest in files.items():
        restored = root / rel
        if rel.startswith("dir2/"):
            assert not restored.exists()
        else:
            assert hashlib.sha256(restored.read_bytes()).hexdigest() == digest, rel


def test_damaged_index_files_are_read_past(tmp_path: Path, cli: CLI) -> None:
    source, files, _ = _make(tmp_path, cli.repo)
    for index_file in (cli.repo / "index").iterdir():
        data = bytearray(index_file.read_bytes())
        data[len(data) // 2] ^= 0x01
        index_file.chmod(0o600)
        index_file.write_bytes(bytes(data))
    out = tmp_path / "out"
    result = cli.run("restore", "latest", "--target", str(out))
    assert result.returncode == 0, result.stderr
    assert "rebuild the index with 'repair index'" in result.stderr
    assert _restore(cli.repo, source, files, tmp_path / "again") == len(files)
    assert cli.run("repair", "index").returncode == 0
    clean = cli.run("restore", "latest", "--target", str(tmp_path / "clean"))
    assert clean.returncode == 0 and "repair index" not in clean.stderr


def _snapshot(snapshot_id: str, **extra: object) -> Snapshot:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    return Snapshot(when, "host", "user", ["/src"], b"\0" * 32, id=snapshot_id, extra=dict(extra))


@pytest.mark.parametrize("original_id", ["f" * 64, "0" * 64])
def test_latest_prefers_the_repaired_snapshot(original_id: str) -> None:
    original = _snapshot(original_id)
    repaired = _snapshot("8" * 64, repaired_from=original_id)
    assert select_snapshot([original, repaired], "latest").id == repaired.id
    # Control: without the marker the newest by (time, id) wins, which may be the original.
    plain = _snapshot("8" * 64)
    expected = max([original, plain], key=lambda s: s.id).id
    assert select_snapshot([original, plain], "latest").id == expected
    # The original is still reachable by its id.
    assert select_snapshot([original, repaired], original_id[:8]).id == original_id
