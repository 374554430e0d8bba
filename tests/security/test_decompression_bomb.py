"""A sealed blob that decompresses far past its recorded length is refused without inflating it."""

from __future__ import annotations

import bz2
import lzma
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
import zstandard

from keyark.compress import Compression, decompress
from keyark.errors import IntegrityError

BOMB = 256 * 1024 * 1024  # what the payload would inflate to
COMPRESSORS: dict[Compression, Callable[[bytes], bytes]] = {
    Compression.ZSTD: lambda data: zstandard.ZstdCompressor().compress(data),
    Compression.GZIP: zlib.compress,
    Compression.BZIP2: bz2.compress,
    Compression.LZMA: lzma.compress,
}


@pytest.mark.parametrize("algorithm", list(COMPRESSORS), ids=lambda a: a.name)
def test_bomb_is_refused_within_bounded_memory(algorithm: Compression) -> None:
    payload = COMPRESSORS[algorithm](b"\0" * BOMB)
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError):
            decompress(algorithm, payload, 4096)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"{algorithm.name} allocated {peak} bytes"


@pytest.mark.parametrize("algorithm", list(COMPRESSORS), ids=lambda a: a.name)
def test_positive_control_honest_blob_decompresses(algorithm: Compression) -> None:
    data = b"key material " * 1000
    assert decompress(algorithm, COMPRESSORS[algorithm](data), len(data)) == data


def test_zstd_bomb_without_declared_size_is_refused() -> None:
    payload = zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * BOMB)
    assert zstandard.frame_content_size(payload) < 0  # the streaming path is exercised
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError):
            decompress(Compression.ZSTD, payload, 4096)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
