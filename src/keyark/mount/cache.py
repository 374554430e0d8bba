"""A bounded least-recently-used cache of decrypted blobs (the mount's file reads)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: The default limit of the cache: 64 MiB of decrypted blob content.
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


@dataclass
class CacheStats:
    """How the cache did: blobs loaded from the repository, hits, bytes held."""

    loads: int = 0
    hits: int = 0
    bytes_held: int = 0


class BlobCache:
    """Blob id -> content, holding at most ``limit`` bytes (the least recently used go first).

    ``load`` reads one verified blob from the repository. A blob larger than the limit
    is returned but not kept. Thread-safe; a limit of 0 keeps nothing.
    """

    def __init__(self, load: Callable[[bytes], bytes], limit: int = DEFAULT_CACHE_BYTES) -> None:
        if limit < 0:
            raise ValueError("the cache limit cannot be negative")
        self._load = load
        self.limit = limit
        self._blobs: OrderedDict[bytes, bytes] = OrderedDict()
        self._mutex = threading.Lock()
        self.stats = CacheStats()

    def get(self, blob_id: bytes) -> bytes:
        """The blob's content, from the cache or loaded (and kept if it fits)."""
        with self._mutex:
            found = self._blobs.get(blob_id)
            if found is not None:
                self._blobs.move_to_end(blob_id)
                self.stats.hits += 1
                return found
        data = self._load(blob_id)
        with self._mutex:
            self.stats.loads += 1
            if len(data) <= self.limit and blob_id not in self._blobs:
                self._blobs[blob_id] = data
                self.stats.bytes_held += len(data)
                while self.stats.bytes_held > self.limit:
                    _, dropped = self._blobs.popitem(last=False)
                    self.stats.bytes_held -= len(dropped)
        return data

    def __contains__(self, blob_id: object) -> bool:
        with self._mutex:
            return blob_id in self._blobs

    def __len__(self) -> int:
        with self._mutex:
            return len(self._blobs)


__all__ = ["DEFAULT_CACHE_BYTES", "BlobCache", "CacheStats"]
