"""Content-defined chunking with FastCDC (min 512 KiB, avg 1 MiB, max 8 MiB).

The gear table is seeded per repository (from the encrypted config) so chunk
boundaries do not fingerprint content across repositories. A file smaller than
the minimum is one chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MIN_SIZE = 512 * 1024
AVG_SIZE = 1024 * 1024
MAX_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True)
class ChunkerParams:
    """Chunk size bounds and the per-repository seed."""

    min_size: int = MIN_SIZE
    avg_size: int = AVG_SIZE
    max_size: int = MAX_SIZE
    #: Secret (sealed in the config): never shown by ``repr()``.
    seed: int = field(default=0, repr=False)


class Chunker:
    """Splits a file or buffer into content-defined chunks. One per thread."""

    def __init__(self, params: ChunkerParams) -> None:
        from pyfastcdc import FastCDC  # here: a reading command needs ChunkerParams only

        self.params = params
        # pyfastcdc's effective average is avg_size + min_size.
        self._cdc = FastCDC(
            max(256, params.avg_size - params.min_size),
            min_size=params.min_size,
            max_size=params.max_size,
            seed=params.seed,
        )

    def stream_chunks(self, stream: Any) -> Iterator[bytes]:
        """Yield chunks of a raw stream (``readinto`` or ``read``) as owned bytes.

        Memory stays bounded by the maximum chunk size.
        """
        for chunk in self._cdc.cut_stream(stream):
            yield bytes(chunk.data)

    def buffer_chunks(self, buffer: bytes | memoryview) -> Iterator[memoryview]:
        """Yield chunk views of an in-memory buffer."""
        if len(buffer) < self.params.min_size:
            yield memoryview(buffer)
            return
        for chunk in self._cdc.cut_buf(buffer):
            yield chunk.data
