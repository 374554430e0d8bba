"""check names what is damaged and what it affects; repair snapshots saves the rest."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import tree_state
from tests.integration.maint_helpers import (
    backup,
    file_blobs,
    objects,
    reopen,
    restored_state,
    write_files,
)

from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.prune import PruneOptions, prune
from keyark.maintenance.repair import repair_index
from keyark.maintenance.repair_snapshots import (
    MARKER_SUFFIX,
    RepairSnapshotsOptions,
    repair_snapshots,
)
from keyark.repo.index import PackRecord
from keyark.repo.pack import PackEntry, pack_name
from keyark.repo.packer import write_index_file
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot

KIB = 1024


def two_snapshots(
    repo: Repository, tmp_path: Path
) -> tuple[Path, Snapshot, Snapshot, dict[str, tuple[object, ...]], dict[str, tuple[object, ...]]]:
    """Snapshot 1 of small files; snapshot 2 adds big.bin, whose blobs get their own packs."""
    source = write_files(tmp_path / "src", {f"keys/k{i}.pem": 3 * KIB for i in range(5)})
    first = backup(repo, source)
    first_state = tree_state(source)
    write_files(source, {"big.bin": 1200 * KIB})
    second = backup(repo, source)
    return source, first, second, first_state, tree_state(source)


def packs_of(repo: Repository, blob_ids: list[bytes]) -> set[bytes]:
    return {repo.blobs.index.get(b).pack_id for b in blob_ids}  # type: ignore[union-attr]


def test_missing_pack_lists_snapshots_and_files(repo: Repository, tmp_path: Path) -> None:
    source, first, second, _, _ = two_snapshots(repo, tmp_path)
    big = f"{source}/big.bin"
    lost = packs_of(repo, file_blobs(repo, second)[big])
    for pack_id in lost:
        repo.backend.delete(pack_name(pack_id))
    summary = check(reopen(repo))
    assert not summary.ok
    missing = [p for p in summary.problems if p.message == "pack is missing from storage"]
    assert {p.object for p in missing} == {pack_name(p) for p in lost}
    assert any(second.short_id in p.snapshots and big in p.files for p in missing)
    assert all(first.short_id not in p.snapshots for p in summary.problems)


def test_orphaned_index_entries_are_errors(repo: Repository, tmp_path: Path) -> None:
    two_snapshots(repo, tmp_path)
    repo.blobs.load_index()
    pack_id, size = next(iter(repo.blobs.index.packs().items()))
    bogus = PackEntry(0, b"\x01" * 32, 0, 10, 10, 0)
    record = PackRecord(pack_id, size, [bogus], repo.blobs.index.pack_key(pack_id))
    write_index_file(repo.backend, repo.blobs.current_sealer(), [record])
    summary = check(reopen(repo))
    orphaned = [p for p in summary.problems if "orphaned index entries" in p.message]
    assert [p.object for p in orphaned] == [pack_name(pack_id)]
    assert not summary.ok
    # repair index rebuilds from the pack headers and drops the bogus entry.
    repair_index(reopen(repo))
    assert check(reopen(repo), CheckOptions(read_data=True)).ok


def test_unlisted_blobs_in_a_pack_are_harmless(repo: Repository, tmp_path: Path) -> None:
    two_snapshots(repo, tmp_path)
    repo.blobs.load_index()
    pack_id, size = next(iter(repo.blobs.index.packs().items()))
    header = repo.blobs.read_pack_header(pack_id, size)
    if len(header) < 2:
        return
    # Replace the index with one that forgets a blob of this pack (it stays in the pack).
    records = [
        PackRecord(p, s, *repo.blobs.pack_header(p, s)) for p, s in repo.blobs.index.packs().items()
    ]
    for record in records:
        if record.pack_id == pack_id:
            record.entries = record.entries[1:]
    old = [n for n in objects(repo) if n.startswith("index/")]
    write_index_file(repo.backend, repo.blobs.current_sealer(), records)
    for name in old:
        repo.backend.delete(name)
    summary = check(reopen(repo))
    notes = [p for p in summary.problems if "no index lists" in p.message]
    assert notes and all(p.harmless for p in notes)


def test_bit_flip_found_by_read_data_names_files(repo: Repository, tmp_path: Path) -> None:
    source, _first, second, _, _ = two_snapshots(repo, tmp_path)
    big = f"{source}/big.bin"
    blob = file_blobs(repo, second)[big][0]
    location = repo.blobs.index.get(blob)
    assert location is not None
    path = Path(repo.backend.location()) / pack_name(location.pack_id)
    data = bytearray(path.read_bytes())
    data[location.offset + 40] ^= 0xFF
    path.write_bytes(bytes(data))
    assert check(reopen(repo)).ok  # structure alone cannot see it
    summary = check(reopen(repo), CheckOptions(read_data=True))
    assert not summary.ok
    assert any(big in p.files and second.short_id in p.snapshots for p in summary.problems)


def test_repair_snapshots_replaces_lost_files_with_markers(
    repo: Repository, tmp_path: Path
) -> None:
    source, first, second, first_state, second_state = two_snapshots(repo, tmp_path)
    big = f"{source}/big.bin"
    for pack_id in packs_of(repo, file_blobs(repo, second)[big]):
        repo.backend.delete(pack_name(pack_id))
    before = objects(repo)
    dry = repair_snapshots(reopen(repo), RepairSnapshotsOptions(dry_run=True))
    assert [item.replaced for item in dry.snapshots] == [[big]]
    assert objects(repo) == before
    repair_index(reopen(repo))
    summary = repair_snapshots(reopen(repo), RepairSnapshotsOptions(forget=True))
    assert summary.checked == 2
    [item] = summary.snapshots
    assert item.original == second.id and item.forgotten and item.replaced == [big]
    assert item.replacement is not None
    fresh = reopen(repo)
    assert set(fresh.snapshots.ids()) == {first.id, item.replacement}
    assert check(fresh, CheckOptions(read_data=True)).ok
    repaired = fresh.snapshots.load(item.replacement)
    assert repaired.extra["repaired_from"] == second.id
    assert (repaired.time, repaired.host, repaired.paths) == (
        second.time,
        second.host,
        second.paths,
    )
    state = restored_state(fresh, repaired, tmp_path / "out")
    expected = dict(second_state)
    del expected["big.bin"]
    marker = state.pop("big.bin" + MARKER_SUFFIX)
    assert marker[0] == "file" and marker[3] == b""
    # Directory mtimes are those of the snapshot, so compare files only.
    assert {k: v for k, v in state.items() if v[0] != "dir"} == {
        k: v for k, v in expected.items() if v[0] != "dir"
    }
    assert restored_state(fresh, first, tmp_path / "out1") == first_state
    # And prune works again on the repaired repository.
    prune(fresh, PruneOptions())
    assert check(reopen(repo), CheckOptions(read_data=True)).ok


def test_repair_snapshots_lost_directory_and_lost_root(repo: Repository, tmp_path: Path) -> None:
    source, first, second, _, _ = two_snapshots(repo, tmp_path)
    # Lose the tree pack(s) holding the keys/ directory listing: both snapshots share it.
    keys_dir_tree = None
    for node in repo.blobs.load_tree(_tree_of(repo, second, str(source))):
        if node.name == "keys":
            keys_dir_tree = node.subtree
    assert keys_dir_tree is not None
    tree_pack = repo.blobs.index.get(keys_dir_tree).pack_id  # type: ignore[union-attr]
    tree_blobs = {loc.blob_id for loc in repo.blobs.index.locations() if loc.pack_id == tree_pack}
    repo.backend.delete(pack_name(tree_pack))
    repair_index(reopen(repo))
    # The first backup's trees, root included, were in that pack; the second backup only
    # reuses its keys/ listing (its own root and src/ trees are newer).
    assert first.tree in tree_blobs and second.tree not in tree_blobs
    result = repair_snapshots(reopen(repo), RepairSnapshotsOptions(forget=True))
    outcome = {item.original: item for item in result.snapshots}
    assert outcome[first.id].root_lost and outcome[first.id].forgotten
    assert outcome[first.id].replacement is None
    assert outcome[second.id].replaced == [f"{source}/keys"]
    fresh = reopen(repo)
    assert check(fresh, CheckOptions(read_data=True)).ok
    for snapshot_id in fresh.snapshots.ids():
        snapshot = fresh.snapshots.load(snapshot_id)
        state = restored_state(fresh, snapshot, tmp_path / snapshot_id[:8])
        assert state["keys" + MARKER_SUFFIX][0] == "dir"


def _tree_of(repo: Repository, snapshot: Snapshot, path: str) -> bytes:
    tree = snapshot.tree
    for part in path.strip("/").split("/"):
        tree = next(n.subtree for n in repo.blobs.load_tree(tree) if n.name == part)  # type: ignore[assignment]
    return tree
