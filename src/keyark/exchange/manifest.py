"""Checksum manifests of an archive's members: ``SHA256SUMS``, ``SHA1SUMS``, ``MD5SUMS``.

Each is in the format of coreutils' ``sha256sum`` (``<hex>  <name>``, one member a
line; a name holding a newline or backslash is escaped and its line starts with a
backslash), so a receiver without keyark checks an extracted archive with
``sha256sum -c SHA256SUMS``. The seed system listed SHA-256, SHA-1 and MD5; SHA-256
is always written, the others on request (they are there to compare with old lists,
not for security).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from keyark.errors import FormatError, UsageError

#: Algorithm -> the manifest's name.
MANIFEST_NAMES = {"sha256": "SHA256SUMS", "sha1": "SHA1SUMS", "md5": "MD5SUMS"}
#: Algorithms in the order manifests are written and checked.
ALGORITHMS = tuple(MANIFEST_NAMES)
#: The largest manifest read (a list of names and digests, not data).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_DIGEST_LENGTHS = {"sha256": 64, "sha1": 40, "md5": 32}
_COPY_SIZE = 1 << 20


def parse_algorithms(names: Iterable[str]) -> tuple[str, ...]:
    """The algorithms asked for (``sha256`` always among them), in manifest order."""
    asked = {name.strip().lower().replace("-", "") for name in names if name.strip()}
    unknown = sorted(asked - set(ALGORITHMS))
    if unknown:
        raise UsageError(
            f"unknown checksum {', '.join(unknown)} (use {', '.join(ALGORITHMS)}, comma-separated)"
        )
    return tuple(name for name in ALGORITHMS if name in asked or name == "sha256")


def new_hashes(algorithms: Sequence[str]) -> dict[str, hashlib._Hash]:
    """A fresh hash object per algorithm (MD5 and SHA-1 marked as not for security)."""
    return {name: hashlib.new(name, usedforsecurity=name == "sha256") for name in algorithms}


class HashingReader:
    """A readable stream that hashes everything read through it."""

    def __init__(self, stream: BinaryIO, algorithms: Sequence[str]) -> None:
        self._stream = stream
        self.hashes = new_hashes(algorithms)
        #: Bytes read so far.
        self.length = 0

    def read(self, size: int = -1, /) -> bytes:
        """Read from the stream, hashing what was read."""
        data = self._stream.read(size)
        for digest in self.hashes.values():
            digest.update(data)
        self.length += len(data)
        return data

    def readable(self) -> bool:
        """Always True."""
        return True

    def close(self) -> None:
        """Close the underlying stream."""
        self._stream.close()

    def __enter__(self) -> HashingReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def digests(self) -> dict[str, str]:
        """Algorithm -> hex digest of what was read."""
        return {name: digest.hexdigest() for name, digest in self.hashes.items()}


def hash_stream(stream: BinaryIO, algorithms: Sequence[str]) -> tuple[dict[str, str], int]:
    """(algorithm -> hex digest, length) of the rest of ``stream``."""
    reader = HashingReader(stream, algorithms)
    while reader.read(_COPY_SIZE):
        pass
    return reader.digests(), reader.length


@dataclass
class Manifest:
    """Member name -> digest per algorithm, in archive order."""

    algorithms: tuple[str, ...]
    entries: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, name: str, digests: dict[str, str]) -> None:
        """Record a member's digests (every algorithm of the manifest)."""
        self.entries[name] = {algorithm: digests[algorithm] for algorithm in self.algorithms}

    def render(self, algorithm: str) -> bytes:
        """The ``<ALGO>SUMS`` file of one algorithm."""
        lines = []
        for name, digests in self.entries.items():
            escaped = name.replace("\\", "\\\\").replace("\n", "\\n")
            prefix = "\\" if escaped != name else ""
            lines.append(f"{prefix}{digests[algorithm]}  {escaped}\n")
        return "".join(lines).encode("utf-8", "surrogateescape")


def parse_manifest(algorithm: str, data: bytes, what: str) -> dict[str, str]:
    """Member name -> hex digest of a ``sha256sum``-style file; FormatError naming ``what``."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise FormatError(f"{what} is too large to be a checksum list")
    entries: dict[str, str] = {}
    width = _DIGEST_LENGTHS[algorithm]
    text = data.decode("utf-8", "surrogateescape")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        escaped = line.startswith("\\")
        body = line[1:] if escaped else line
        digest, sep, name = body[:width], body[width : width + 2], body[width + 2 :]
        if sep not in ("  ", " *") or not name or not _is_hex(digest):
            raise FormatError(f"{what} line {number} is not '<{algorithm}>  <name>'")
        if escaped:
            name = _unescape(name)
        if name in entries:
            raise FormatError(f"{what} lists {name!r} twice")
        entries[name] = digest.lower()
    return entries


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _unescape(name: str) -> str:
    out: list[str] = []
    chars = iter(name)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following == "n" else following)
        else:
            out.append(char)
    return "".join(out)


__all__ = [
    "ALGORITHMS",
    "MANIFEST_NAMES",
    "HashingReader",
    "Manifest",
    "hash_stream",
    "new_hashes",
    "parse_algorithms",
    "parse_manifest",
]
