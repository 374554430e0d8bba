"""The column-wise row check of index files and pack headers (issue 19, load speed).

``entries_from_rows`` checks a record's rows column by column and only falls back to
``PackEntry.from_row`` row by row when something is wrong. Every branch is tried
here with one bad field among good rows: the result must be exactly what
``from_row`` says of that row (same error, or the same entry), through the entry
parser, ``decode_index`` (msgpack arrays decoded as tuples) and ``parse_header``.
Positive controls: the good rows alone load, and every boundary value loads.
"""

from __future__ import annotations

import enum
from typing import Any

import msgpack
import pytest

from keyark.crypto.envelope import ObjectKind, Sealer, new_key
from keyark.errors import FormatError
from keyark.repo.index import MasterIndex, decode_index
from keyark.repo.pack import (
    DATA,
    MAX_BLOB,
    MAX_OFFSET,
    TREE,
    PackEntry,
    entries_from_rows,
    pack_end,
    parse_header,
)

PACK = b"p" * 32
SIZE = 10_000


def _id(n: int) -> bytes:
    return bytes([n]) * 32


def good_rows(count: int = 5) -> list[list[Any]]:
    """Rows every check accepts (offsets and lengths inside a SIZE-byte pack)."""
    return [[n % 2, _id(n), n * 100, 100, 300, n % 16] for n in range(count)]


NOT_A_LIST = "pack entry is not a list of six fields"
BAD_ID = "pack entry has a malformed blob id"
NOT_INT = "pack entry has a non-integer field"
RANGE = "pack entry has a field out of range"


class Small(enum.IntEnum):
    """An int subclass (not what msgpack decodes, but ``from_row`` accepts it)."""

    ONE = 1


def _row(field: int, value: object) -> list[object]:
    row: list[object] = [DATA, _id(99), 0, 100, 300, 0]
    row[field] = value
    return row


BAD_ROWS: list[tuple[object, str]] = [
    ({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}, NOT_A_LIST),  # a map of six
    ("abcdef", NOT_A_LIST),
    (b"abcdef", NOT_A_LIST),
    (None, NOT_A_LIST),
    (7, NOT_A_LIST),
    ([DATA, _id(99), 0, 100, 300], NOT_A_LIST),  # five fields
    ([DATA, _id(99), 0, 100, 300, 0, 0], NOT_A_LIST),  # seven
    ([], NOT_A_LIST),
    (_row(1, "x" * 32), BAD_ID),
    (_row(1, bytearray(32)), BAD_ID),
    (_row(1, b"x" * 31), BAD_ID),
    (_row(1, b"x" * 33), BAD_ID),
    (_row(1, None), BAD_ID),
    (_row(0, True), NOT_INT),  # bool is an int to Python, not to the format
    (_row(0, 0.0), NOT_INT),
    (_row(2, None), NOT_INT),
    (_row(2, "0"), NOT_INT),
    (_row(3, 100.0), NOT_INT),
    (_row(3, False), NOT_INT),
    (_row(4, b"300"), NOT_INT),
    (_row(5, [0]), NOT_INT),
    (_row(0, 2), RANGE),
    (_row(0, -1), RANGE),
    (_row(2, -1), RANGE),
    (_row(2, MAX_OFFSET), RANGE),
    (_row(3, 0), RANGE),
    (_row(3, -100), RANGE),
    (_row(3, MAX_BLOB), RANGE),
    (_row(4, -1), RANGE),
    (_row(4, MAX_BLOB), RANGE),
    (_row(5, -1), RANGE),
    (_row(5, 16), RANGE),
    (_row(2, 2**70), RANGE),
]

BOUNDARY_ROWS: list[list[object]] = [
    [TREE, _id(1), MAX_OFFSET - 1, 1, 0, 15],
    [DATA, _id(2), 0, MAX_BLOB - 1, MAX_BLOB - 1, 0],
]


def test_good_rows_load_as_from_row_reads_them() -> None:
    rows = good_rows() + BOUNDARY_ROWS
    entries = entries_from_rows(rows)
    assert entries == [PackEntry.from_row(row) for row in rows]
    assert all(type(e) is PackEntry for e in entries)
    assert entries[0].blob_id == _id(0) and entries[-1].length == MAX_BLOB - 1
    assert entries_from_rows([tuple(row) for row in rows]) == entries  # msgpack tuples
    assert entries_from_rows([]) == []
    assert [e.as_row() for e in entries] == rows


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
def test_each_bad_field_is_refused_as_from_row_refuses_it(row: object, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        PackEntry.from_row(row)  # the reference check says so too
    for rows in ([row], [*good_rows(), row], [row, *good_rows()]):
        with pytest.raises(FormatError) as raised:
            entries_from_rows(rows)
        assert str(raised.value) == message
    if isinstance(row, list):
        with pytest.raises(FormatError, match=message):
            entries_from_rows([*good_rows(), tuple(row)])


def test_the_first_bad_row_names_the_error() -> None:
    rows = [*good_rows(), _row(3, 0), _row(1, b"short")]
    with pytest.raises(FormatError, match=RANGE):
        entries_from_rows(rows)


def test_values_only_the_row_by_row_check_accepts_still_load() -> None:
    """An int subclass is refused by the column check, then accepted by from_row."""
    row = _row(5, Small.ONE)
    entries = entries_from_rows([*good_rows(), row])
    assert entries[-1] == PackEntry.from_row(row) and entries[-1].compression == 1


def _index(rows: list[Any], size: int = SIZE) -> bytes:
    pack = {"id": PACK, "size": size, "key": b"k" * 8, "t": True, "blobs": rows}
    document = {"v": 2, "supersedes": ["index/old"], "packs": [pack]}
    return bytes(msgpack.packb(document, use_bin_type=True))


def test_decode_index_loads_good_rows_into_the_master_index() -> None:
    rows = good_rows(50)
    (record,), supersedes = decode_index(_index(rows))
    assert supersedes == ["index/old"] and isinstance(supersedes, list)
    assert record.entries == [PackEntry.from_row(row) for row in rows]
    index = MasterIndex()
    index.add_pack(record.pack_id, record.size, record.entries, record.key_id)
    for row in rows:
        location = index.get(row[1])
        assert location is not None
        assert (location.kind, location.offset, location.length) == (row[0], row[2], row[3])
        assert (location.raw_length, location.compression) == (row[4], row[5])
        assert location.pack_id == PACK and location.key_id == b"k" * 8


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
def test_decode_index_refuses_each_bad_field(row: object, message: str) -> None:
    if row == _row(1, bytearray(32)):
        row = _row(1, b"x" * 40)  # msgpack writes a bytearray as bin: use a wrong length
    if row == _row(2, 2**70):
        pytest.skip("msgpack cannot write integers beyond 64 bits")
    with pytest.raises(FormatError, match=f"index file is malformed \\({message}\\)"):
        decode_index(_index([*good_rows(), row]))


def test_decode_index_checks_the_end_of_every_blob_against_the_pack_size() -> None:
    rows = good_rows(3)  # the last ends at 300
    end = pack_end([PackEntry.from_row(row) for row in rows])
    assert end == 300 and pack_end([]) == 0
    (record,), _ = decode_index(_index(rows, size=end))  # positive control: ends exactly
    assert len(record.entries) == 3
    with pytest.raises(FormatError, match="blob extends past the end of its pack"):
        decode_index(_index(rows, size=end - 1))
    (empty,), _ = decode_index(_index([], size=1))
    assert empty.entries == []


@pytest.mark.parametrize(
    "document",
    [
        {"v": 2, "supersedes": "index/old", "packs": []},
        {"v": 2, "supersedes": [1], "packs": []},
        {"v": 2, "packs": [{"id": PACK, "size": SIZE, "key": b"k" * 8, "t": True, "blobs": {}}]},
        {"v": 2, "packs": {"id": PACK}},
    ],
)
def test_decode_index_refuses_bad_lists(document: dict[str, Any]) -> None:
    with pytest.raises(FormatError, match="index file is malformed"):
        decode_index(bytes(msgpack.packb(document, use_bin_type=True)))


def test_decode_index_without_supersedes_is_an_empty_list() -> None:
    data = bytes(msgpack.packb({"v": 2, "packs": []}, use_bin_type=True))
    assert decode_index(data) == ([], [])


def test_parse_header_uses_the_same_checks() -> None:
    sealer = Sealer(new_key())
    rows = good_rows(20)
    sealed = sealer.seal(ObjectKind.PACK_HEADER, b"", msgpack.packb(rows, use_bin_type=True))
    assert parse_header(sealer, sealed) == [PackEntry.from_row(row) for row in rows]
    bad = msgpack.packb([*rows, _row(0, 3)], use_bin_type=True)
    with pytest.raises(FormatError, match=RANGE):
        parse_header(sealer, sealer.seal(ObjectKind.PACK_HEADER, b"", bad))


def test_pack_entry_is_a_value() -> None:
    entry = PackEntry(DATA, _id(1), 0, 10, 20, 1)
    assert entry == PackEntry(
        kind=DATA, blob_id=_id(1), offset=0, length=10, raw_length=20, compression=1
    )
    assert len({entry, PackEntry.from_row(entry.as_row())}) == 1
    assert entry.as_row() == [DATA, _id(1), 0, 10, 20, 1]
    with pytest.raises(AttributeError):
        entry.offset = 5  # type: ignore[misc]


def test_add_pack_with_repeated_ids_stores_only_the_new_rows() -> None:
    """The picked-columns path: a pack whose ids are partly indexed already."""
    index = MasterIndex()
    first = entries_from_rows(good_rows(4))
    index.add_pack(b"a" * 32, SIZE, first)
    second = entries_from_rows([*good_rows(6)[2:], good_rows(6)[5]])  # 2 known, 1 repeated
    index.add_pack(b"b" * 32, SIZE, second)
    assert len(index) == 6 and index.copies() == 2  # 5 twice in b: one copy
    for n, pack in ((0, b"a"), (3, b"a"), (4, b"b"), (5, b"b")):
        location = index.get(_id(n))
        assert location is not None and location.pack_id == pack * 32
        assert location.offset == n * 100 and location.compression == n % 16


def test_a_value_the_arrays_cannot_hold_changes_nothing() -> None:
    index = MasterIndex()
    index.add_pack(b"a" * 32, SIZE, entries_from_rows(good_rows(2)))
    huge = PackEntry(DATA, _id(50), 0, 2**40, 1, 0)  # built directly, never checked
    with pytest.raises(OverflowError):
        index.add_pack(b"b" * 32, SIZE, [PackEntry(DATA, _id(40), 0, 1, 1, 0), huge])
    assert len(index) == 2 and _id(40) not in index and _id(50) not in index
    index.add_pack(b"c" * 32, SIZE, [PackEntry(DATA, _id(40), 0, 1, 1, 0)])  # control
    assert _id(40) in index
