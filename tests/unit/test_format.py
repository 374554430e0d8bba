"""Compression, chunking, packs, index, trees, snapshots selection."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

import pytest

from keyark.chunker import Chunker, ChunkerParams
from keyark.compress import Compression, Compressor, decompress, parse_compression
from keyark.crypto.envelope import Sealer, new_key
from keyark.errors import FormatError, IntegrityError, SnapshotNotFoundError, UsageError
from keyark.repo.index import MasterIndex, PackRecord, decode_index, encode_index
from keyark.repo.pack import (
    DATA,
    PackBuilder,
    header_span,
    pack_id_from_name,
    pack_name,
    parse_header,
)
from keyark.repo.snapshot import Snapshot, SnapshotFilter, parse_time, select_snapshot
from keyark.repo.tree import DIR, FILE, SYMLINK, Node, decode_tree, encode_tree

TEXT = b"the quick brown fox jumps over the lazy dog\n" * 2000


@pytest.mark.parametrize("spec", ["zstd", "zstd:19", "gzip", "bzip2:9", "lzma", "none", "auto"])
def test_compression_round_trip(spec: str) -> None:
    compressor = Compressor(parse_compression(spec))
    algorithm, payload = compressor.compress(TEXT)
    if spec == "none":
        assert algorithm is Compression.NONE
    else:
        assert len(payload) < len(TEXT) / 10
    assert decompress(algorithm, bytes(payload), len(TEXT)) == TEXT


def test_incompressible_stored_raw() -> None:
    data = os.urandom(300_000)
    for spec in ("zstd", "auto"):
        algorithm, payload = Compressor(parse_compression(spec)).compress(data)
        assert algorithm is Compression.NONE and bytes(payload) == data


@pytest.mark.parametrize("bad", ["zip", "zstd:99", "gzip:x", "none:3"])
def test_bad_compression_spec(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_compression(bad)


def test_decompress_wrong_length() -> None:
    algorithm, payload = Compressor(parse_compression("zstd")).compress(TEXT)
    with pytest.raises(IntegrityError):
        decompress(algorithm, bytes(payload), len(TEXT) - 1)


def test_chunker_is_content_defined() -> None:
    rng = random.Random(1)
    data = rng.randbytes(12 * 1024 * 1024)
    chunker = Chunker(ChunkerParams(seed=42))
    chunks = [bytes(c) for c in chunker.buffer_chunks(data)]
    assert b"".join(chunks) == data
    assert all(512 * 1024 <= len(c) <= 8 * 1024 * 1024 for c in chunks[:-1])
    shifted = [bytes(c) for c in chunker.buffer_chunks(b"XYZ" + data)]
    assert len(set(chunks) & set(shifted)) >= len(chunks) - 2  # boundaries resynchronise
    other_seed = [bytes(c) for c in Chunker(ChunkerParams(seed=7)).buffer_chunks(data)]
    assert other_seed != chunks
    assert [bytes(c) for c in chunker.buffer_chunks(b"small")] == [b"small"]


def test_pack_header_round_trip_and_truncation() -> None:
    sealer = Sealer(new_key())
    builder = PackBuilder(DATA)
    builder.add(b"a" * 32, b"sealed-a", 5, 0)
    builder.add(b"b" * 32, b"sealed-bb", 6, 1)
    pack_id, data = builder.finish(sealer)
    offset, length = header_span(len(data), data[-4:])
    entries = parse_header(sealer, data[offset : offset + length])
    assert [(e.blob_id, e.offset, e.length) for e in entries] == [
        (b"a" * 32, 0, 8),
        (b"b" * 32, 8, 9),
    ]
    assert pack_id_from_name(pack_name(pack_id)) == pack_id
    assert pack_id_from_name("data/zz/nothex") is None
    with pytest.raises(FormatError):
        header_span(10, data[-4:])


def test_index_round_trip_and_lookup() -> None:
    builder = PackBuilder(DATA)
    builder.add(b"x" * 32, b"payload", 7, 1)
    record = PackRecord(b"p" * 32, 100, builder.entries, b"k" * 8)
    packs, supersedes = decode_index(encode_index([record], ["index/old"]))
    assert supersedes == ["index/old"] and packs[0].entries == record.entries
    assert packs[0].key_id == b"k" * 8 and packs[0].trusted
    index = MasterIndex()
    index.add_pack(record.pack_id, record.size, record.entries)
    location = index.get(b"x" * 32)
    assert location is not None and location.pack_id == b"p" * 32 and location.raw_length == 7
    assert b"y" * 32 not in index and index.packs() == {b"p" * 32: 100}
    with pytest.raises(FormatError):
        decode_index(b"\x93garbage")


def test_tree_encoding_is_deterministic() -> None:
    nodes = [
        Node("b", FILE, mode=0o600, size=3, content=[b"c" * 32]),
        Node("a ✓", DIR, subtree=b"t" * 32),
        Node("z", SYMLINK, target="../b"),
        Node(os.fsdecode(b"raw\xffname"), FILE),
    ]
    encoded = encode_tree(nodes)
    assert encoded == encode_tree(list(reversed(nodes)))
    decoded = decode_tree(encoded)
    assert [n.name for n in decoded] == sorted((n.name for n in nodes), key=os.fsencode)
    assert {n.name: n.target for n in decoded}["z"] == "../b"


def _snap(sid: str, minutes: int, host: str = "h", tags: list[str] | None = None) -> Snapshot:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return Snapshot(
        time=base + timedelta(minutes=minutes),
        host=host,
        username="u",
        paths=["/p"],
        tree=b"t" * 32,
        tags=tags or [],
        id=sid,
    )


def test_snapshot_selection() -> None:
    snaps = [_snap("aaaa1111", 0), _snap("aaaa2222", 10, tags=["x"]), _snap("bbbb", 20, "other")]
    assert select_snapshot(snaps, "latest").id == "bbbb"
    assert select_snapshot(snaps, "latest", SnapshotFilter(hosts=["h"])).id == "aaaa2222"
    assert select_snapshot(snaps, "aaaa1").id == "aaaa1111"
    with pytest.raises(SnapshotNotFoundError, match="ambiguous"):
        select_snapshot(snaps, "aaaa")
    with pytest.raises(SnapshotNotFoundError):
        select_snapshot(snaps, "cccc")
    at = datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    assert select_snapshot(snaps, None, at=at).id == "aaaa2222"
    with pytest.raises(SnapshotNotFoundError):
        select_snapshot(snaps, None, at=at - timedelta(hours=1))
    assert select_snapshot(snaps, "latest", SnapshotFilter(tags=["x"])).id == "aaaa2222"


def test_latest_passes_over_restore_points() -> None:
    """A restore point saved by a restore is never ``latest`` unless asked for by its tag."""
    point = _snap("cccc", 30, tags=["restore-point"])
    snaps = [_snap("aaaa", 0), point]
    assert select_snapshot(snaps, "latest").id == "aaaa"
    assert select_snapshot(snaps, None, at=point.time).id == "aaaa"
    assert select_snapshot(snaps, "latest", SnapshotFilter(tags=["restore-point"])).id == "cccc"
    assert select_snapshot(snaps, "cccc").id == "cccc"  # by id it is any snapshot


def test_parse_time() -> None:
    assert parse_time("2026-01-02 03:04").minute == 4
    assert parse_time("2026-01-02 03:04:05").second == 5
    with pytest.raises(UsageError):
        parse_time("yesterday")
