"""Master index trust ranking (design D7), hostile index rows, bare blob envelopes (D8)."""

from __future__ import annotations

import msgpack
import pytest

from keyark.crypto.envelope import ObjectKind, Sealer, new_key
from keyark.errors import FormatError, IntegrityError
from keyark.repo.index import MasterIndex, PackRecord, decode_index, encode_index, merge_pack_record
from keyark.repo.pack import DATA, PackEntry

BLOB = b"b" * 32
GOOD = b"g" * 32
PLANTED = b"p" * 32


def entry(offset: int = 0) -> PackEntry:
    return PackEntry(DATA, BLOB, offset, 40, 10, 0)


@pytest.mark.parametrize("trusted_first", [True, False])
def test_trusted_copy_wins_whatever_the_order(trusted_first: bool) -> None:
    index = MasterIndex()
    adds = [(GOOD, True), (PLANTED, False)]
    for pack_id, trusted in adds if trusted_first else reversed(adds):
        index.add_pack(pack_id, 100, [entry()], b"k" * 8, trusted)
    best = index.get(BLOB)
    assert best is not None and best.pack_id == GOOD and best.trusted
    assert [c.pack_id for c in index.candidates(BLOB)] == [GOOD, PLANTED]
    assert index.has_trusted(BLOB) and index.copies() == 1


def test_untrusted_only_is_indexed_but_never_dedups() -> None:
    index = MasterIndex()
    index.add_pack(PLANTED, 100, [entry()], b"k" * 8, trusted=False)
    assert BLOB in index  # positive control: the planted entry is loaded
    assert not index.has_trusted(BLOB)
    location = index.get(BLOB)
    assert location is not None and not location.trusted and location.key_id == b"k" * 8


def test_same_location_listed_again_as_trusted_upgrades_it() -> None:
    index = MasterIndex()
    index.add_pack(GOOD, 100, [entry()], b"k" * 8, trusted=False)
    index.add_pack(GOOD, 100, [entry()], b"k" * 8, trusted=True)
    assert index.has_trusted(BLOB) and index.copies() == 0


def test_untrusted_record_cannot_inject_entries_into_a_trusted_pack() -> None:
    records: dict[bytes, PackRecord] = {}
    merge_pack_record(records, PackRecord(GOOD, 100, [entry()], b"k" * 8, True))
    merge_pack_record(records, PackRecord(GOOD, 999, [entry(50)], b"k" * 8, False))
    assert records[GOOD].entries == [entry()] and records[GOOD].size == 100
    records = {}
    merge_pack_record(records, PackRecord(GOOD, 999, [entry(50)], b"k" * 8, False))
    merge_pack_record(records, PackRecord(GOOD, 100, [entry()], b"k" * 8, True))
    assert records[GOOD].entries == [entry()] and records[GOOD].trusted


def _index_with(row: list[object], size: object = 100, key: object = b"k" * 8) -> bytes:
    document = {
        "v": 2,
        "supersedes": [],
        "packs": [{"id": GOOD, "size": size, "key": key, "t": True, "blobs": [row]}],
    }
    return bytes(msgpack.packb(document, use_bin_type=True))


@pytest.mark.parametrize(
    "data",
    [
        _index_with([0, BLOB, -1, 40, 10, 0]),  # offset -1 (was OverflowError)
        _index_with([0, BLOB, 2**64 - 1, 40, 10, 0]),
        _index_with([0, BLOB, 0, 0, 10, 0]),
        _index_with([7, BLOB, 0, 40, 10, 0]),
        _index_with([0, BLOB, 0, 40, 10, 99]),
        _index_with([0, BLOB, 0, "40", 10, 0]),
        _index_with([0, BLOB, 0, True, 10, 0]),
        _index_with([0, BLOB[:5], 0, 40, 10, 0]),
        _index_with([0, BLOB, 0, 40]),
        _index_with([0, BLOB, 90, 40, 10, 0]),  # past the end of the pack
        _index_with([0, BLOB, 0, 40, 10, 0], size=-5),
        _index_with([0, BLOB, 0, 40, 10, 0], key=b""),
        bytes(msgpack.packb({"v": 1, "packs": []})),
        bytes(msgpack.packb([1, 2, 3])),
        b"\xc1garbage",
    ],
)
def test_hostile_index_rows_are_format_errors(data: bytes) -> None:
    with pytest.raises(FormatError, match="index file is malformed"):
        decode_index(data)


def test_encode_decode_keeps_trust_mark() -> None:
    record = PackRecord(GOOD, 100, [entry()], b"k" * 8, trusted=False)
    (decoded,), _ = decode_index(encode_index([record]))
    assert not decoded.trusted


def test_bare_seal_round_trip_has_no_marker() -> None:
    key = new_key()
    sealer = Sealer(key)
    bare = sealer.seal_bare(ObjectKind.DATA_BLOB, BLOB, b"secret")
    assert b"KA" not in bare[:2] and key.key_id not in bare
    assert sealer.open_bare(ObjectKind.DATA_BLOB, BLOB, bare) == b"secret"
    full = sealer.seal(ObjectKind.DATA_BLOB, BLOB, b"secret")
    assert full.startswith(b"KA")  # positive control: the old layout has the marker
    with pytest.raises(IntegrityError):
        sealer.open_bare(ObjectKind.DATA_BLOB, b"x" * 32, bare)
    with pytest.raises(IntegrityError):
        Sealer(new_key()).open_bare(ObjectKind.DATA_BLOB, BLOB, bare)
