"""Where every blob lives: the in-memory master index and index files.

The master index keeps a compact blob table (every id in one bytearray, an
open-addressing table of row numbers, see :mod:`keyark.repo.blob_table`) plus
parallel typed arrays (pack number, offset, length, raw length, kind,
compression), not an object per blob. Index files (``index/<sha256>``) are sealed msgpack
documents listing packs and their blobs. Each location carries a trust flag
(design D7): copies written under an agent session are untrusted, never satisfy
a full-key writer's dedup, and never shadow a trusted copy.
"""

from __future__ import annotations

import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import lshift, or_
from typing import Any

import msgpack

from keyark.crypto.envelope import KEY_ID_SIZE
from keyark.errors import FormatError
from keyark.repo.blob_table import BlobTable
from keyark.repo.pack import PackEntry, entries_from_rows, pack_end

_U63 = 2**63
#: What msgpack decodes an array into (tuples: ``use_list=False``, measured faster).
_ARRAY = (list, tuple)
#: Entries' fields as columns, in row order: kinds, ids, offsets, lengths, raw lengths,
#: compressions (one transposition in C, instead of one attribute read per field and row).
_Columns = tuple[Sequence[Any], ...]


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """A blob's position: which pack, where in it, how it is stored, and whether trusted."""

    blob_id: bytes
    pack_id: bytes
    kind: int
    offset: int
    length: int
    raw_length: int
    compression: int
    #: Id of the key that sealed the pack (b"" when not known; readers look it up).
    key_id: bytes = b""
    #: Listed by a full-key index for a pack sealed with a keyring data key (design D7).
    trusted: bool = True

    @classmethod
    def in_pack(
        cls, pack_id: bytes, entry: PackEntry, key_id: bytes = b"", trusted: bool = True
    ) -> BlobLocation:
        """Where a pack header (or index) entry of ``pack_id`` puts its blob."""
        return cls(
            entry.blob_id,
            pack_id,
            entry.kind,
            entry.offset,
            entry.length,
            entry.raw_length,
            entry.compression,
            key_id,
            trusted,
        )


@dataclass
class PackRecord:
    """One pack as an index file lists it."""

    pack_id: bytes
    size: int
    entries: list[PackEntry]
    #: Id of the key that sealed the pack header and its blobs (b"" if unknown).
    key_id: bytes = b""
    #: Trusted (design D7): the index file was sealed with a keyring data key, the pack
    #: key is a keyring data key, and the writer marked the record trusted.
    trusted: bool = True


class MasterIndex:
    """All known blobs; thread-safe for concurrent adds and lookups.

    Per blob: the best location (trusted before untrusted, first listed within a
    rank) in compact parallel arrays, found through a :class:`BlobTable` (ids in
    one bytearray and an open-addressing table of row numbers: under 80 bytes a
    blob in all at a million blobs, not a ``bytes`` key and a dict entry each);
    other copies' rows only for duplicates, in a side dict, so the common case
    costs nothing extra.
    Adds hold the lock; lookups do not (a row is complete before the table
    points at it).
    """

    def __init__(self) -> None:
        self._table = BlobTable()
        self._alternates: dict[bytes, list[int]] = {}
        self._pack_ids: list[bytes] = []
        self._pack_sizes: list[int] = []
        self._pack_numbers: dict[bytes, int] = {}
        self._pack_keys: dict[bytes, bytes] = {}
        self._pack = array("I")
        self._offset = array("Q")
        self._length = array("I")
        self._raw = array("Q")
        self._meta = array("B")  # kind << 4 | compression
        self._trusted = array("B")
        #: (blob id, pack id) of copies a data check found damaged: never dedup targets.
        self._damaged: set[tuple[bytes, bytes]] = set()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every pack and blob in place, so every holder of this index sees a reload."""
        with self._lock:
            for name, value in vars(MasterIndex()).items():
                if name != "_lock":
                    setattr(self, name, value)

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, blob_id: object) -> bool:
        """Whether any copy (trusted or not) is indexed."""
        return self._table.find(blob_id) >= 0

    def has_trusted(self, blob_id: bytes) -> bool:
        """Whether a trusted copy not known to be damaged is indexed (the only kind
        full-key writers dedup against)."""
        row = self._table.find(blob_id)
        if row < 0:
            return False
        if not self._damaged:
            return bool(self._trusted[row])
        rows = [row, *self._alternates.get(blob_id, ())]
        return any(self._trusted[r] and not self._is_damaged(blob_id, r) for r in rows)

    def mark_damaged(self, copies: Iterable[tuple[bytes, bytes]]) -> None:
        """Remember copies (blob id, pack id) found damaged: they no longer satisfy dedup,
        and reads try them last."""
        with self._lock:
            self._damaged.update(copies)

    def _is_damaged(self, blob_id: bytes, row: int) -> bool:
        return (blob_id, self._pack_ids[self._pack[row]]) in self._damaged

    def add_pack(
        self,
        pack_id: bytes,
        size: int,
        entries: Iterable[PackEntry],
        key_id: bytes = b"",
        trusted: bool = True,
    ) -> None:
        """Record a pack and its blobs.

        A trusted copy replaces an untrusted best location whatever the order of
        calls; otherwise the first location stays best and later ones are alternates.
        """
        with self._lock:
            number = self._pack_numbers.get(pack_id)
            if number is None:
                number = len(self._pack_ids)
                self._pack_ids.append(pack_id)
                self._pack_sizes.append(size)
                self._pack_numbers[pack_id] = number
            if key_id and (trusted or pack_id not in self._pack_keys):
                self._pack_keys[pack_id] = key_id
            entries = list(entries)
            columns = _columns(entries)

            def store(positions: list[int]) -> None:
                if len(positions) == len(entries):
                    self._store_rows(number, columns, trusted)
                else:
                    picked = tuple([column[p] for p in positions] for column in columns)
                    self._store_rows(number, picked, trusted)

            known = self._table.add(columns[1], store)
            for position in known:  # already indexed (or listed twice): rank this copy
                self._add_copy(number, entries[position], trusted)

    def _store_rows(self, number: int, columns: _Columns, trusted: bool) -> None:
        """Append rows given as columns (see :func:`_columns`; all converted before any
        is extended, so a bad value changes nothing)."""
        kinds, _ids, offsets, lengths, raws, compressions = columns
        count = len(offsets)
        arrays = (
            (self._pack, array("I", [number]) * count),
            (self._offset, array("Q", offsets)),
            (self._length, array("I", lengths)),
            (self._raw, array("Q", raws)),
            (self._meta, array("B", map(or_, map(lshift, kinds, repeat(4)), compressions))),
            (self._trusted, array("B", [1 if trusted else 0]) * count),
        )
        for column, values in arrays:
            column.extend(values)

    def _add_copy(self, number: int, entry: PackEntry, trusted: bool) -> None:
        """Add one copy of a blob that may already be indexed (ranked, see add_pack)."""
        found = self._table.find(entry.blob_id)
        best = found if found >= 0 else None
        if best is not None and self._same(best, number, entry):
            if trusted and not self._trusted[best]:
                self._trusted[best] = 1
            return
        others = self._alternates.get(entry.blob_id, [])
        known = next((r for r in others if self._same(r, number, entry)), None)
        if known is not None:
            if trusted:
                self._trusted[known] = 1
            if trusted and best is not None and not self._trusted[best]:
                others.remove(known)
                others.insert(0, best)
                self._table.point(entry.blob_id, known)
            return
        row = self._append(number, entry, trusted)
        if best is None:
            self._table.point(entry.blob_id, row)
        elif trusted and not self._trusted[best]:
            self._alternates.setdefault(entry.blob_id, []).insert(0, best)
            self._table.point(entry.blob_id, row)
        else:
            self._alternates.setdefault(entry.blob_id, []).append(row)

    def _same(self, row: int, number: int, entry: PackEntry) -> bool:
        return self._pack[row] == number and self._offset[row] == entry.offset

    def _append(self, number: int, entry: PackEntry, trusted: bool) -> int:
        return self._table.append(
            entry.blob_id, lambda: self._store_rows(number, _columns([entry]), trusted)
        )

    def _location(self, blob_id: bytes, row: int) -> BlobLocation:
        meta = self._meta[row]
        pack_id = self._pack_ids[self._pack[row]]
        return BlobLocation(
            blob_id,
            pack_id,
            meta >> 4,
            self._offset[row],
            self._length[row],
            self._raw[row],
            meta & 0x0F,
            self._pack_keys.get(pack_id, b""),
            bool(self._trusted[row]),
        )

    def get(self, blob_id: bytes) -> BlobLocation | None:
        """The best location of a blob (a trusted one when there is one, an undamaged one
        when a data check found the best damaged)."""
        row = self._table.find(blob_id)
        if row < 0:
            return None
        if self._damaged and self._is_damaged(blob_id, row):
            return self.candidates(blob_id)[0]
        return self._location(blob_id, row)

    def candidates(self, blob_id: bytes) -> list[BlobLocation]:
        """Every known copy, best first: trusted before untrusted, then listing order."""
        row = self._table.find(blob_id)
        if row < 0:
            return []
        rows = [row, *self._alternates.get(blob_id, ())]
        rows.sort(key=lambda r: (not self._trusted[r], self._is_damaged(blob_id, r), r != row))
        return [self._location(blob_id, r) for r in rows]

    def copies(self) -> int:
        """How many indexed copies exist beyond one per blob."""
        return sum(len(rows) for rows in self._alternates.values())

    def raw_length(self, blob_id: bytes) -> int | None:
        """The plaintext length of a blob's best copy, or None when it is not indexed."""
        row = self._table.find(blob_id)
        return None if row < 0 else self._raw[row]

    def packs(self) -> dict[bytes, int]:
        """Pack id -> size for every indexed pack."""
        return dict(zip(self._pack_ids, self._pack_sizes, strict=True))

    def pack_key(self, pack_id: bytes) -> bytes:
        """The key id that sealed a pack (b"" if the index did not record it)."""
        return self._pack_keys.get(pack_id, b"")

    def blobs_per_key(self) -> dict[bytes, int]:
        """How many indexed blobs each key sealed (for the nonce budget)."""
        counts: dict[bytes, int] = {}
        for number, rows in Counter(self._pack).items():
            key = self._pack_keys.get(self._pack_ids[number], b"")
            counts[key] = counts.get(key, 0) + rows
        return counts

    def _blob_ids(self) -> Iterator[tuple[bytes, int]]:
        """(id, row) of every indexed blob once, in the order first listed; row is -1
        when the blob has other copies or the index was cleared meanwhile (ask
        :meth:`get` then). Blobs added meanwhile are left out, as from a snapshot."""
        with self._lock:
            table, rows, repeated = self._table, self._table.rows, set(self._alternates)
        seen: set[bytes] = set()
        for row, blob_id in enumerate(table.ids(rows)):
            if blob_id in repeated:
                if blob_id in seen:
                    continue
                seen.add(blob_id)
                row = -1
            yield blob_id, row if self._table is table and not self._damaged else -1

    def locations(self) -> Iterator[BlobLocation]:
        """The best location of every blob."""
        for blob_id, row in self._blob_ids():
            location = self._location(blob_id, row) if row >= 0 else self.get(blob_id)
            if location is not None:
                yield location

    def all_locations(self) -> Iterator[BlobLocation]:
        """Every indexed copy, alternates included."""
        for blob_id, row in self._blob_ids():
            if row >= 0:
                yield self._location(blob_id, row)
            else:
                yield from self.candidates(blob_id)


def _columns(entries: list[PackEntry]) -> _Columns:
    """The entries' fields as columns (six empty ones for no entries)."""
    if not entries:
        return ((),) * 6
    return tuple(zip(*entries, strict=True))


def merge_pack_record(records: dict[bytes, PackRecord], record: PackRecord) -> int | None:
    """Add ``record`` to ``records`` by pack id, merging the blob lists of repeated packs.

    A trusted record replaces an untrusted one and an untrusted record never adds
    entries to a trusted one (so an agent's index cannot inject entries into a
    full-key pack). Returns the size already recorded when another index file of the
    same trust gave the pack a different size (a conflict the caller reports), else None.
    """
    known = records.get(record.pack_id)
    if known is None or (record.trusted and not known.trusted):
        records[record.pack_id] = PackRecord(
            record.pack_id, record.size, list(record.entries), record.key_id, record.trusted
        )
        return None
    if known.trusted and not record.trusted:
        return None
    seen = set(known.entries)
    known.entries.extend(e for e in record.entries if e not in seen)
    return known.size if known.size != record.size else None


def encode_index(packs: Iterable[PackRecord], supersedes: Iterable[str] = ()) -> bytes:
    """Serialise an index file's plaintext (each record keeps its trust mark)."""
    document = {
        "v": 2,
        "supersedes": list(supersedes),
        "packs": [
            {
                "id": pack.pack_id,
                "size": pack.size,
                "key": pack.key_id,
                "t": pack.trusted,
                "blobs": [e.as_row() for e in pack.entries],
            }
            for pack in packs
        ],
    }
    return bytes(msgpack.packb(document, use_bin_type=True))


def decode_index(data: bytes) -> tuple[list[PackRecord], list[str]]:
    """Parse an index file's plaintext into pack records and superseded index names.

    Every field is type- and range-checked; ``trusted`` is the writer's mark only
    (the caller combines it with who sealed the file and the pack).
    """
    try:
        document = msgpack.unpackb(data, raw=False, use_list=False)
        if not isinstance(document, dict) or document.get("v") != 2:
            raise ValueError("not a version 2 index")
        packs = [_pack_record(pack) for pack in document["packs"]]
        supersedes = document.get("supersedes", [])
        if not isinstance(supersedes, _ARRAY) or not all(isinstance(n, str) for n in supersedes):
            raise ValueError("bad supersedes list")
        return packs, list(supersedes)
    except (
        KeyError,
        ValueError,
        TypeError,
        FormatError,
        msgpack.UnpackException,
        RecursionError,
    ) as error:
        raise FormatError(f"index file is malformed ({str(error)[:80]})") from None


def _pack_record(pack: object) -> PackRecord:
    if not isinstance(pack, dict):
        raise ValueError("pack record is not a map")
    pack_id, size, key, trusted, rows = (pack[k] for k in ("id", "size", "key", "t", "blobs"))
    if not isinstance(pack_id, bytes) or len(pack_id) != 32:
        raise ValueError("bad pack id")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size < _U63:
        raise ValueError("bad pack size")
    if not isinstance(key, bytes) or len(key) != KEY_ID_SIZE:
        raise ValueError("bad pack key id")
    if not isinstance(trusted, bool) or not isinstance(rows, _ARRAY):
        raise ValueError("bad pack record")
    entries = entries_from_rows(rows)
    if pack_end(entries) > size:
        raise ValueError("blob extends past the end of its pack")
    return PackRecord(pack_id, size, entries, key, trusted)
