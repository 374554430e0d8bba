"""Per-blob compression: zstd (default, level 3), gzip, bzip2, lzma, none, and auto.

``auto`` is zstd that first samples large blobs and stores them raw when the
sample does not compress. In every mode a blob whose compressed form is not
smaller is stored raw; the header records which was used.
"""

from __future__ import annotations

import bz2
import enum
import lzma
import threading
import zlib
from dataclasses import dataclass

import zstandard

from keyark.errors import IntegrityError, UsageError


class Compression(enum.IntEnum):
    """Algorithm ids as stored in pack headers and the index."""

    NONE = 0
    ZSTD = 1
    GZIP = 2
    BZIP2 = 3
    LZMA = 4


_DEFAULT_LEVELS = {
    Compression.ZSTD: 3,
    Compression.GZIP: 6,
    Compression.BZIP2: 9,
    Compression.LZMA: 6,
}
_LEVEL_RANGES = {
    Compression.ZSTD: (-7, 22),
    Compression.GZIP: (1, 9),
    Compression.BZIP2: (1, 9),
    Compression.LZMA: (0, 9),
}
_SAMPLE = 64 * 1024


@dataclass(frozen=True)
class CompressionSpec:
    """A parsed ``--compression`` value."""

    algorithm: Compression = Compression.ZSTD
    level: int = 3
    auto: bool = False

    def __str__(self) -> str:
        if self.auto:
            return "auto"
        if self.algorithm is Compression.NONE:
            return "none"
        return f"{self.algorithm.name.lower()}:{self.level}"


#: restic's names: ``off`` is ``none``, ``max`` is zstd's strongest practical level
#: (``auto`` is keyark's own, which restic's ``auto`` also names).
_RESTIC_NAMES = {"off": "none", "max": "zstd:19"}


def parse_compression(text: str) -> CompressionSpec:
    """Parse ``zstd[:LEVEL]|gzip[:L]|bzip2[:L]|lzma[:L]|none|auto`` (and restic's
    ``off``, ``max``)."""
    wanted = text.strip().lower()
    name, _, level_text = _RESTIC_NAMES.get(wanted, wanted).partition(":")
    if name == "auto" and not level_text:
        return CompressionSpec(Compression.ZSTD, 3, auto=True)
    if name == "none" and not level_text:
        return CompressionSpec(Compression.NONE, 0)
    try:
        algorithm = Compression[name.upper()]
    except KeyError:
        raise UsageError(
            f"unknown compression {text!r}: use zstd[:LEVEL], gzip, bzip2, lzma, none (off), "
            "auto or max"
        ) from None
    if algorithm is Compression.NONE:
        raise UsageError("compression 'none' takes no level")
    level = _DEFAULT_LEVELS[algorithm]
    if level_text:
        low, high = _LEVEL_RANGES[algorithm]
        try:
            level = int(level_text)
        except ValueError:
            raise UsageError(f"compression level {level_text!r} is not a number") from None
        if not low <= level <= high:
            raise UsageError(f"{name} level must be between {low} and {high}, not {level}")
    return CompressionSpec(algorithm, level)


class Compressor:
    """Compresses blobs per a spec; safe to share between threads."""

    def __init__(self, spec: CompressionSpec) -> None:
        self.spec = spec
        self._local = threading.local()

    def _zstd(self) -> zstandard.ZstdCompressor:
        compressor: zstandard.ZstdCompressor | None = getattr(self._local, "zstd", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self.spec.level)
            self._local.zstd = compressor
        return compressor

    def _compress(self, data: bytes | memoryview) -> bytes:
        algorithm = self.spec.algorithm
        if algorithm is Compression.ZSTD:
            return bytes(self._zstd().compress(data))
        if algorithm is Compression.GZIP:
            return zlib.compress(data, self.spec.level)
        if algorithm is Compression.BZIP2:
            return bz2.compress(data, self.spec.level)
        return lzma.compress(data, preset=self.spec.level)

    def compress(self, data: bytes | memoryview) -> tuple[Compression, bytes | memoryview]:
        """Return the algorithm actually used and the payload to store."""
        if self.spec.algorithm is Compression.NONE or len(data) < 64:
            return Compression.NONE, data
        if self.spec.auto and len(data) > 2 * _SAMPLE:
            sample = self._compress(data[:_SAMPLE])
            if len(sample) > _SAMPLE * 0.97:
                return Compression.NONE, data
        packed = self._compress(data)
        if len(packed) >= len(data):
            return Compression.NONE, data
        return self.spec.algorithm, packed


_local_decompressor = threading.local()


def decompress(algorithm: int, payload: bytes, raw_length: int) -> bytes:
    """Inverse of :meth:`Compressor.compress`; checks the length.

    Output is capped at ``raw_length`` (+1 to detect a longer stream) for every
    algorithm, so a hostile payload cannot make decompression allocate without bound.
    """
    try:
        if algorithm == Compression.NONE:
            data = payload
        elif algorithm == Compression.ZSTD:
            decompressor = getattr(_local_decompressor, "zstd", None)
            if decompressor is None:
                decompressor = zstandard.ZstdDecompressor()
                _local_decompressor.zstd = decompressor
            # A frame that declares its size is decompressed in one allocation of that size,
            # whatever max_output_size says: refuse a declared size above the recorded one.
            declared = zstandard.frame_content_size(payload)
            if declared > raw_length:
                raise IntegrityError("blob decompresses past its recorded length")
            if declared < 0:
                with decompressor.stream_reader(payload) as reader:
                    data = reader.read(raw_length + 1)
            else:
                data = decompressor.decompress(payload, max_output_size=raw_length)
        elif algorithm == Compression.GZIP:
            data = zlib.decompressobj().decompress(payload, raw_length + 1)
        elif algorithm == Compression.BZIP2:
            data = bz2.BZ2Decompressor().decompress(payload, raw_length + 1)
        elif algorithm == Compression.LZMA:
            data = lzma.LZMADecompressor().decompress(payload, raw_length + 1)
        else:
            raise IntegrityError(f"unknown compression id {algorithm}")
    except (zstandard.ZstdError, zlib.error, OSError, lzma.LZMAError, ValueError) as error:
        raise IntegrityError(f"blob does not decompress ({error})") from None
    if len(data) != raw_length:
        raise IntegrityError("blob decompressed to the wrong length")
    return data
