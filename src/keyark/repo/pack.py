"""Pack files: ``blob... | sealed header | header length (uint32 LE)``.

The header lists each blob's kind, id, offset, length, raw length and
compression. Packs are named by the SHA-256 of their bytes and live in
``data/<first two hex digits>/<sha256>``. Blobs are stored bare (nonce and
ciphertext, no envelope prefix, design D8): a keyless reader finds no per-blob
marker; readers rebuild the prefix from the pack's key id.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from operator import add, itemgetter
from typing import NamedTuple, cast

import msgpack

from keyark.crypto.envelope import ObjectKind, Sealer
from keyark.errors import FormatError

DATA = 0
TREE = 1
BLOB_KINDS = {DATA: ObjectKind.DATA_BLOB, TREE: ObjectKind.TREE_BLOB}
_TRAILER = struct.Struct("<I")
#: Bounds of header and index fields (a blob is at most one 16 MiB chunk, compressed
#: or sealed a little larger; offsets fit the index's 64-bit arrays).
MAX_BLOB = 2**32
MAX_OFFSET = 2**63


class PackEntry(NamedTuple):
    """Where one blob sits inside a pack.

    A named tuple (fields in row order), so that the rows of a header or an index
    file become entries at the cost of one tuple each, once :func:`entries_from_rows`
    has checked them column by column.
    """

    kind: int
    blob_id: bytes
    offset: int
    length: int
    raw_length: int
    compression: int

    def as_row(self) -> list[object]:
        """The row a header or an index file stores."""
        return list(self)

    @classmethod
    def from_row(cls, row: object) -> PackEntry:
        """Parse a header or index row; every field is type- and range-checked."""
        if not isinstance(row, (list, tuple)) or len(row) != 6:
            raise FormatError("pack entry is not a list of six fields")
        kind, blob_id, offset, length, raw_length, compression = row
        if not isinstance(blob_id, bytes) or len(blob_id) != 32:
            raise FormatError("pack entry has a malformed blob id")
        numbers = (kind, offset, length, raw_length, compression)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
            raise FormatError("pack entry has a non-integer field")
        if (
            kind not in BLOB_KINDS
            or not 0 <= offset < MAX_OFFSET
            or not 0 < length < MAX_BLOB
            or not 0 <= raw_length < MAX_BLOB
            or not 0 <= compression <= 15
        ):
            raise FormatError("pack entry has a field out of range")
        return cls(kind, blob_id, offset, length, raw_length, compression)


def entries_from_rows(rows: Sequence[object]) -> list[PackEntry]:
    """Parse the rows of a header or an index record, checked as :meth:`PackEntry.from_row`
    checks each (same bounds, same errors), without a Python call per row.

    The rows are checked column by column; only when some row fails is each parsed
    by :meth:`PackEntry.from_row`, which raises the first bad row's error.
    """
    if not rows:
        return []
    if _rows_valid(rows):
        return list(map(_ENTRY_FROM_TUPLE, rows))
    return [PackEntry.from_row(row) for row in rows]


def _rows_valid(rows: Sequence[object]) -> bool:
    """Whether every row is a list or tuple of six fields ``from_row`` accepts (exact
    types only: anything unusual goes to the row-by-row check)."""
    if not set(map(type, rows)) <= _ROW_TYPES:
        return False
    arrays = cast("Sequence[Sequence[object]]", rows)
    if set(map(len, arrays)) != {6}:
        return False
    kinds, ids, offsets, lengths, raws, compressions = zip(*arrays, strict=True)
    if set(map(type, ids)) != {bytes} or set(map(len, cast("tuple[bytes, ...]", ids))) != {32}:
        return False
    columns = (kinds, offsets, lengths, raws, compressions)
    if any(set(map(type, column)) != {int} for column in columns):  # no bool, no subclass
        return False
    kinds, offsets, lengths, raws, compressions = cast("tuple[tuple[int, ...], ...]", columns)
    return (
        set(kinds).issubset(BLOB_KINDS)
        and 0 <= min(offsets) <= max(offsets) < MAX_OFFSET
        and 0 < min(lengths) <= max(lengths) < MAX_BLOB
        and 0 <= min(raws) <= max(raws) < MAX_BLOB
        and 0 <= min(compressions) <= max(compressions) <= 15
    )


def pack_end(entries: Sequence[PackEntry]) -> int:
    """Where the last-ending blob of ``entries`` ends (0 for none)."""
    if not entries:
        return 0
    ends: Iterator[int] = map(add, map(_OFFSET, entries), map(_LENGTH, entries))
    return max(ends)


_ROW_TYPES: set[type] = {list, tuple}
#: A checked row (a list or tuple of six fields) as an entry, without a Python call.
_ENTRY_FROM_TUPLE: Callable[[object], PackEntry] = partial(tuple.__new__, PackEntry)
_OFFSET = itemgetter(2)
_LENGTH = itemgetter(3)


def pack_name(pack_id: bytes) -> str:
    hexid = pack_id.hex()
    return f"data/{hexid[:2]}/{hexid}"


def pack_id_from_name(name: str) -> bytes | None:
    """The id of a ``data/xx/<hex>`` name, or None if the name is not a pack."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "data":
        return None
    try:
        pack_id = bytes.fromhex(parts[2])
    except ValueError:
        return None
    if len(pack_id) != 32 or parts[1] != parts[2][:2]:
        return None
    return pack_id


class PackBuilder:
    """Accumulates sealed blobs for one pack (not thread-safe; the packer locks)."""

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.parts: list[bytes | memoryview] = []
        self.entries: list[PackEntry] = []
        self.size = 0

    def add(self, blob_id: bytes, sealed: bytes, raw_length: int, compression: int) -> None:
        self.entries.append(
            PackEntry(self.kind, blob_id, self.size, len(sealed), raw_length, compression)
        )
        self.parts.append(sealed)
        self.size += len(sealed)

    def finish(self, sealer: Sealer) -> tuple[bytes, bytes]:
        """Return (pack id, pack bytes); the header is sealed with ``sealer``'s key."""
        header = msgpack.packb([entry.as_row() for entry in self.entries], use_bin_type=True)
        sealed_header = sealer.seal(ObjectKind.PACK_HEADER, b"", header)
        self.parts.append(sealed_header)
        self.parts.append(_TRAILER.pack(len(sealed_header)))
        data = b"".join(self.parts)
        self.parts = []
        return hashlib.sha256(data).digest(), data


def header_span(pack_size: int, trailer: bytes) -> tuple[int, int]:
    """Given the last 4 bytes of a pack, return (offset, length) of its sealed header."""
    if len(trailer) != _TRAILER.size:
        raise FormatError("pack is truncated (no header length)")
    (length,) = _TRAILER.unpack(trailer)
    offset = pack_size - _TRAILER.size - length
    if length <= 0 or offset < 0:
        raise FormatError("pack header length is out of range (truncated pack?)")
    return offset, length


def parse_header(sealer: Sealer, sealed_header: bytes) -> list[PackEntry]:
    """Decrypt and parse a pack header."""
    raw = sealer.open(ObjectKind.PACK_HEADER, b"", sealed_header)
    try:
        rows = msgpack.unpackb(raw, raw=False)
        if not isinstance(rows, list):
            raise ValueError("not a list")
        return entries_from_rows(rows)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as error:
        raise FormatError(f"pack header is malformed ({str(error)[:80]})") from None


TRAILER_SIZE = _TRAILER.size
