"""The mount's cache of decrypted blobs: bounded in bytes, least recently used first out."""

from __future__ import annotations

import pytest

from keyark.mount.cache import BlobCache


class Store:
    """Blobs by id, counting reads."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []

    def load(self, blob_id: bytes) -> bytes:
        self.reads.append(blob_id)
        return blob_id * 10


def test_cache_keeps_at_most_its_limit_and_drops_the_least_recently_used() -> None:
    store = Store()
    cache = BlobCache(store.load, limit=25)
    assert cache.get(b"a") == b"a" * 10
    cache.get(b"b")
    cache.get(b"a")  # a is now the most recently used
    cache.get(b"c")  # 30 bytes > 25: b goes
    assert b"a" in cache and b"c" in cache and b"b" not in cache
    assert cache.stats.bytes_held == 20 <= cache.limit
    cache.get(b"a")
    assert store.reads == [b"a", b"b", b"c"]  # the second and third a were hits
    assert (cache.stats.loads, cache.stats.hits) == (3, 2)
    cache.get(b"b")  # loaded again: it was dropped
    assert store.reads[-1] == b"b"


def test_a_blob_larger_than_the_limit_is_served_but_not_kept() -> None:
    store = Store()
    cache = BlobCache(store.load, limit=5)
    assert cache.get(b"x") == b"x" * 10
    assert len(cache) == 0 and cache.stats.bytes_held == 0
    nothing = BlobCache(store.load, limit=0)
    nothing.get(b"y")
    nothing.get(b"y")
    assert store.reads.count(b"y") == 2


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        BlobCache(Store().load, limit=-1)
