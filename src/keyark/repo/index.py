"""Where every blob lives: the in-memory master index and index files.

The master index keeps one dict from blob id to a row number plus parallel
typed arrays (pack number, offset, length, raw length, kind, compression),
not an object per blob. Index files (``index/<sha256>``) are sealed msgpack
documents listing packs and their blobs.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgpack

from keyark.errors import FormatError
from keyark.repo.pack import PackEntry


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """A blob's position: which pack, where in it, and how it is stored."""

    blob_id: bytes
    pack_id: bytes
    kind: int
    offset: int
    length: int
    raw_length: int
    compression: int

    @classmethod
    def in_pack(cls, pack_id: bytes, entry: PackEntry) -> BlobLocation:
        """Where a pack header (or index) entry of ``pack_id`` puts its blob."""
        return cls(
            entry.blob_id,
            pack_id,
            entry.kind,
            entry.offset,
            entry.length,
            entry.raw_length,
            entry.compression,
        )


@dataclass
class PackRecord:
    """One pack as an index file lists it."""

    pack_id: bytes
    size: int
    entries: list[PackEntry]
    #: Id of the key that sealed the pack header and its blobs (b"" if unknown).
    key_id: bytes = b""


class MasterIndex:
    """All known blobs; thread-safe for concurrent adds and lookups."""

    def __init__(self) -> None:
        self._rows: dict[bytes, int] = {}
        self._pack_ids: list[bytes] = []
        self._pack_sizes: list[int] = []
        self._pack_numbers: dict[bytes, int] = {}
        self._pack_keys: dict[bytes, bytes] = {}
        self._pack = array("I")
        self._offset = array("Q")
        self._length = array("I")
        self._raw = array("Q")
        self._meta = array("B")  # kind << 4 | compression
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every pack and blob in place, so every holder of this index sees a reload."""
        with self._lock:
            for name, value in vars(MasterIndex()).items():
                if name != "_lock":
                    setattr(self, name, value)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._rows

    def add_pack(
        self, pack_id: bytes, size: int, entries: Iterable[PackEntry], key_id: bytes = b""
    ) -> None:
        """Record a pack and its blobs (a blob already known keeps its first location)."""
        with self._lock:
            if key_id:
                self._pack_keys[pack_id] = key_id
            number = self._pack_numbers.get(pack_id)
            if number is None:
                number = len(self._pack_ids)
                self._pack_ids.append(pack_id)
                self._pack_sizes.append(size)
                self._pack_numbers[pack_id] = number
            for entry in entries:
                if entry.blob_id in self._rows:
                    continue
                self._rows[entry.blob_id] = len(self._pack)
                self._pack.append(number)
                self._offset.append(entry.offset)
                self._length.append(entry.length)
                self._raw.append(entry.raw_length)
                self._meta.append(entry.kind << 4 | entry.compression)

    def get(self, blob_id: bytes) -> BlobLocation | None:
        row = self._rows.get(blob_id)
        if row is None:
            return None
        meta = self._meta[row]
        return BlobLocation(
            blob_id,
            self._pack_ids[self._pack[row]],
            meta >> 4,
            self._offset[row],
            self._length[row],
            self._raw[row],
            meta & 0x0F,
        )

    def raw_length(self, blob_id: bytes) -> int | None:
        row = self._rows.get(blob_id)
        return None if row is None else self._raw[row]

    def packs(self) -> dict[bytes, int]:
        """Pack id -> size for every indexed pack."""
        return dict(zip(self._pack_ids, self._pack_sizes, strict=True))

    def pack_key(self, pack_id: bytes) -> bytes:
        """The key id that sealed a pack (b"" if the index did not record it)."""
        return self._pack_keys.get(pack_id, b"")

    def blobs_per_key(self) -> dict[bytes, int]:
        """How many indexed blobs each key sealed (for the nonce budget)."""
        counts: dict[bytes, int] = {}
        for row in range(len(self._pack)):
            key = self._pack_keys.get(self._pack_ids[self._pack[row]], b"")
            counts[key] = counts.get(key, 0) + 1
        return counts

    def has_pack(self, pack_id: bytes) -> bool:
        return pack_id in self._pack_numbers

    def locations(self) -> Iterator[BlobLocation]:
        for blob_id in list(self._rows):
            location = self.get(blob_id)
            if location is not None:
                yield location


def merge_pack_record(records: dict[bytes, PackRecord], record: PackRecord) -> int | None:
    """Add ``record`` to ``records`` by pack id, merging the blob lists of repeated packs.

    Returns the size already recorded when another index file gave the same pack a
    different size (a conflict the caller reports), else None.
    """
    known = records.get(record.pack_id)
    if known is None:
        records[record.pack_id] = PackRecord(
            record.pack_id, record.size, list(record.entries), record.key_id
        )
        return None
    seen = set(known.entries)
    known.entries.extend(e for e in record.entries if e not in seen)
    return known.size if known.size != record.size else None


def encode_index(packs: Iterable[PackRecord], supersedes: Iterable[str] = ()) -> bytes:
    """Serialise an index file's plaintext."""
    document = {
        "v": 1,
        "supersedes": list(supersedes),
        "packs": [
            {
                "id": pack.pack_id,
                "size": pack.size,
                "key": pack.key_id,
                "blobs": [e.as_row() for e in pack.entries],
            }
            for pack in packs
        ],
    }
    return bytes(msgpack.packb(document, use_bin_type=True))


def decode_index(data: bytes) -> tuple[list[PackRecord], list[str]]:
    """Parse an index file's plaintext into pack records and superseded index names."""
    try:
        document = msgpack.unpackb(data, raw=False)
        packs = [
            PackRecord(
                pack["id"],
                int(pack["size"]),
                [PackEntry.from_row(row) for row in pack["blobs"]],
                bytes(pack.get("key", b"")),
            )
            for pack in document["packs"]
        ]
        return packs, [str(name) for name in document.get("supersedes", [])]
    except (KeyError, ValueError, TypeError, msgpack.UnpackException) as error:
        raise FormatError(f"index file is malformed ({error})") from None
