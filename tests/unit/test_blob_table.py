"""The compact blob table behind the master index (issue 19: RAM per blob).

Positive controls: a dict built from the same ids is the oracle for every lookup,
forced collisions really collide (every id in one probe chain), and the memory
figure is compared with what a ``dict[bytes, int]`` of the same ids costs.
"""

from __future__ import annotations

import hashlib
import sys
import threading

import pytest

from keyark.repo.blob_table import ID_SIZE, BlobTable
from keyark.repo.index import MasterIndex
from keyark.repo.pack import DATA, PackEntry


def blob(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "little")).digest()


def no_store(_positions: list[int]) -> None:
    return None


def fill(table: BlobTable, ids: list[bytes], batch: int = 100) -> list[int]:
    """Add ids in batches; the positions (over all ids) reported as already mapped."""
    known: list[int] = []
    for start in range(0, len(ids), batch):
        known += [start + p for p in table.add(ids[start : start + batch], no_store)]
    return known


def constant_hash(_value: object) -> int:
    return 12345


def two_bucket_hash(value: object) -> int:
    return value[0] & 1 if isinstance(value, bytes) and value else 0


@pytest.mark.parametrize("hasher", [hash, constant_hash, two_bucket_hash])
def test_lookups_match_a_dict_across_many_rehashes(hasher: object) -> None:
    count = 3000 if hasher is hash else 300  # collisions make probing quadratic in count
    table = BlobTable(capacity=1, hasher=hasher)  # type: ignore[arg-type]
    ids = [blob(n) for n in range(count)]
    assert fill(table, ids, batch=7) == []
    oracle = {blob_id: row for row, blob_id in enumerate(ids)}
    assert len(table) == table.rows == count
    assert table.capacity >= count * 10 / 7 and table.capacity & (table.capacity - 1) == 0
    for blob_id, row in oracle.items():
        assert table.find(blob_id) == row
        assert table.blob_id(row) == blob_id
    for n in range(count, count + 300):  # misses
        assert table.find(blob(n)) == -1
    assert table.find(b"short") == -1 and table.find("not bytes") == -1
    assert list(table.ids(count)) == ids


def test_forced_collisions_really_share_one_chain() -> None:
    """Control for the test above: with the constant hash every id probes from one slot."""
    table = BlobTable(capacity=1024, hasher=constant_hash)
    fill(table, [blob(n) for n in range(50)])
    assert table.find(blob(49)) == 49
    home = constant_hash(b"") & (table.capacity - 1)
    assert table._slots[home] >= 0  # the home slot is taken by the first id
    occupied = [i for i, value in enumerate(table._slots) if value >= 0]
    assert len(occupied) == 50 and home in occupied


def test_already_mapped_and_twice_listed_ids_are_reported_not_added() -> None:
    table = BlobTable()
    assert table.add([blob(1), blob(2)], no_store) == []
    stored: list[list[int]] = []
    known = table.add([blob(3), blob(1), blob(3), blob(4)], stored.append)
    assert known == [1, 2]  # blob(1) was mapped; the second blob(3) repeats the first
    assert stored == [[0, 3]]  # new rows: blob(3), blob(4)
    assert table.rows == 4 and len(table) == 4
    assert [table.find(blob(n)) for n in (1, 2, 3, 4)] == [0, 1, 2, 3]


def test_a_failing_store_leaves_the_table_as_it_was() -> None:
    table = BlobTable(capacity=4, hasher=two_bucket_hash)
    fill(table, [blob(n) for n in range(10)])
    before = (sorted(v for v in table._slots if v >= 0), table.rows, len(table))

    def broken(_positions: list[int]) -> None:
        raise OverflowError("value out of range")

    with pytest.raises(OverflowError):
        table.add([blob(n) for n in range(5, 40)], broken)
    # Same mappings (the table may have grown first: same entries, other slots).
    assert (sorted(v for v in table._slots if v >= 0), table.rows, len(table)) == before
    assert all(table.find(blob(n)) == -1 for n in range(10, 40))
    assert fill(table, [blob(n) for n in range(10, 40)]) == []  # still usable
    assert all(table.find(blob(n)) == n for n in range(40))


def test_point_replaces_or_inserts_and_append_stores_unmapped_rows() -> None:
    table = BlobTable(capacity=2, hasher=two_bucket_hash)
    fill(table, [blob(n) for n in range(5)])
    copy = table.append(blob(2), lambda: None)  # another copy of blob(2)
    assert copy == 5 and table.find(blob(2)) == 2 and len(table) == 5
    table.point(blob(2), copy)
    assert table.find(blob(2)) == copy and len(table) == 5
    fresh = table.append(blob(99), lambda: None)
    assert table.find(blob(99)) == -1  # stored, not mapped yet
    table.point(blob(99), fresh)
    assert table.find(blob(99)) == fresh and len(table) == 6


def test_bad_ids_are_refused_before_anything_changes() -> None:
    table = BlobTable()
    with pytest.raises(ValueError, match="32 bytes"):
        table.add([blob(1), b"x" * 31], no_store)
    with pytest.raises(ValueError, match="32 bytes"):
        table.append(b"x" * 33, lambda: None)
    with pytest.raises(ValueError, match="power of two"):
        BlobTable(capacity=12)
    assert table.rows == 0 and len(table) == 0


def test_a_row_is_invisible_until_its_data_is_stored() -> None:
    """The exact moment a lock-free reader could strike: inside ``store``."""
    table = BlobTable(capacity=1, hasher=two_bucket_hash)
    fill(table, [blob(n) for n in range(20)])
    ids = [blob(n) for n in range(20, 60)]
    seen: list[int] = []

    def store(positions: list[int]) -> None:
        seen.extend(table.find(ids[p]) for p in positions)

    table.add(ids, store)
    assert seen == [-1] * len(ids)
    assert [table.find(blob_id) for blob_id in ids] == list(range(20, 60))  # control


def test_readers_never_see_a_row_before_it_is_stored() -> None:
    """Lookups take no lock: a reader finding an id must find its data stored."""
    table = BlobTable(capacity=1)
    data: list[int] = []
    ids = [blob(n) for n in range(20000)]
    done = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not done.is_set():
            for n in range(0, len(ids), 97):
                row = table.find(ids[n])
                if row >= 0 and (row >= len(data) or data[row] != n):
                    errors.append(f"row {row} of id {n} not stored")

    def store_from(start: int) -> object:
        return lambda positions: data.extend(start + p for p in positions)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for start in range(0, len(ids), 50):
        table.add(ids[start : start + 50], store_from(start))  # type: ignore[arg-type]
    done.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(table.find(blob_id) == n for n, blob_id in enumerate(ids))


def test_bytes_per_blob_is_far_below_a_dict() -> None:
    count = 50_000
    table = BlobTable()
    ids = [blob(n) for n in range(count)]
    fill(table, ids, batch=1000)
    per_blob = table.nbytes() / count
    assert per_blob <= ID_SIZE + 8 * 2.9  # ids plus at most 2.86 slots of 8 bytes
    as_dict = {blob_id: row for row, blob_id in enumerate(ids)}
    dict_bytes = sys.getsizeof(as_dict) + sum(sys.getsizeof(b) for b in ids)
    assert dict_bytes / count > 2 * per_blob  # control: what the dict costs


def entry(n: int, offset: int = 0) -> PackEntry:
    return PackEntry(DATA, blob(n), offset, 10, 10, 0)


def test_master_index_over_many_packs_and_duplicates() -> None:
    index = MasterIndex()
    for pack in range(40):
        pack_id = blob(10_000 + pack)
        entries = [entry(pack * 100 + n, n * 10) for n in range(100)]
        entries.append(entry(pack * 100, 999))  # listed twice in one pack: an alternate
        index.add_pack(pack_id, 10_000, entries, b"k" * 8, trusted=pack % 2 == 0)
    assert len(index) == 4000 and index.copies() == 40
    for n in range(0, 4000, 37):
        location = index.get(blob(n))
        assert location is not None and location.offset == (n % 100) * 10
        assert index.has_trusted(blob(n)) == (n // 100 % 2 == 0)
        assert index.raw_length(blob(n)) == 10 and blob(n) in index
    first = index.candidates(blob(100))
    assert [c.offset for c in first] == [0, 999]
    assert blob(5000) not in index and index.get(blob(5000)) is None
    assert [loc.blob_id for loc in index.locations()] == [blob(n) for n in range(4000)]
    assert sum(1 for _ in index.all_locations()) == 4040
    assert index.blobs_per_key() == {b"k" * 8: 4040}
    index.mark_damaged([(blob(5), blob(10_000)), (blob(100), blob(10_001))])
    assert list(index.locations()) == [index.get(blob(n)) for n in range(4000)]
    assert [c.offset for c in index.candidates(blob(100))] == [0, 999]
    assert sum(1 for _ in index.all_locations()) == 4040


def test_master_index_rejects_a_bad_row_without_a_trace() -> None:
    index = MasterIndex()
    index.add_pack(blob(1), 100, [entry(1)], b"k" * 8)
    bad = PackEntry(DATA, blob(2), -1, 10, 10, 0)  # negative offset: not an unsigned column
    with pytest.raises(OverflowError):
        index.add_pack(blob(1), 100, [entry(3), bad], b"k" * 8)
    assert len(index) == 1 and blob(2) not in index and blob(3) not in index
    index.add_pack(blob(1), 100, [entry(3, 20)], b"k" * 8)
    location = index.get(blob(3))
    assert location is not None and location.offset == 20
    assert sum(1 for _ in index.all_locations()) == 2
