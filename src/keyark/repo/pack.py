"""Pack files: ``blob... | sealed header | header length (uint32 LE)``.

The header lists each blob's kind, id, offset, length, raw length and
compression. Packs are named by the SHA-256 of their bytes and live in
``data/<first two hex digits>/<sha256>``.
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
    def from_row(cls, row: list[object]) -> PackEntry:
        kind, blob_id, offset, length, raw_length, compression = row
        if not isinstance(blob_id, bytes) or len(blob_id) != 32:
            raise FormatError("pack entry has a malformed blob id")
        return cls(int(kind), blob_id, int(offset), int(length), int(raw_length), int(compression))  # type: ignore[call-overload]


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
        return [PackEntry.from_row(row) for row in rows]
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise FormatError(f"pack header is malformed ({error})") from None


TRAILER_SIZE = _TRAILER.size
