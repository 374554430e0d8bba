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
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one blob sits inside a pack."""

    kind: int
    blob_id: bytes
    offset: int
    length: int
    raw_length: int
    compression: int

    def as_row(self) -> list[object]:
        return [
            self.kind,
            self.blob_id,
            self.offset,
            self.length,
            self.raw_length,
            self.compression,
        ]

    @classmethod
    def from_row(cls, row: object) -> PackEntry:
        """Parse a header or index row; every field is type- and range-checked."""
        if not isinstance(row, list) or len(row) != 6:
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
        return [PackEntry.from_row(row) for row in rows]
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as error:
        raise FormatError(f"pack header is malformed ({str(error)[:80]})") from None


TRAILER_SIZE = _TRAILER.size
