"""Which of a few named packs are stored, without listing every pack of the repository.

A write-only agent's dedup cache names the packs holding the blobs of its current
files and trees; before the agent dedups against them it must know they are still
stored with the size it recorded (prune or a re-encryption may have deleted them).
Listing ``data/`` for that costs one LIST page per 1,000 packs of the *whole*
repository on every backup of every host, so the fleet's cost grew as hosts x packs
(issue 18, docs/scaling.md). Asking for each named pack's size costs one HEAD per
pack the cache names, whatever else the repository holds; only a cache naming more
than :data:`HEADS_BEFORE_LISTING` packs lists instead.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from keyark.errors import NotFoundError
from keyark.repo.pack_store import PackStore

#: Above this many named packs, one listing of ``data/`` replaces the HEADs.
HEADS_BEFORE_LISTING = 1000


def stored_sizes(
    packs: PackStore, pack_ids: Collection[bytes], workers: int = 8
) -> dict[bytes, int]:
    """Pack id -> stored size of each of ``pack_ids`` that is stored (gone ones left out).

    One size request per pack, ``workers`` at a time; more than
    :data:`HEADS_BEFORE_LISTING` packs are looked up in one listing instead. Storage
    errors other than a missing pack are raised.
    """
    wanted = set(pack_ids)
    if len(wanted) > HEADS_BEFORE_LISTING:
        return {p: size for p, size in packs.stored().items() if p in wanted}
    if not wanted:
        return {}

    def size(pack_id: bytes) -> tuple[bytes, int | None]:
        try:
            return pack_id, packs.size(pack_id)
        except NotFoundError:
            return pack_id, None

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted)))) as pool:
        found = list(pool.map(size, sorted(wanted)))
    return {pack_id: stored for pack_id, stored in found if stored is not None}


__all__ = ["HEADS_BEFORE_LISTING", "stored_sizes"]
