"""Parts of ``check`` about packs as a whole: which to read, duplicate copies, and
remembering damaged copies so backups stop deduplicating on them."""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable

from keyark.errors import UsageError
from keyark.repo.damage import Copy, record_path, save_damage
from keyark.repo.index import PackRecord
from keyark.repo.repository import Repository

#: What the check says to do about a damaged pack (face-neutral): salvage its readable
#: blobs and unindex it, so the next backup stores the lost content again.
REPAIR_THE_PACK = "repair the pack"


def select_packs(pack_ids: list[bytes], subset: str | None) -> list[bytes]:
    """The packs to read for a subset spec (all when None)."""
    if subset is None:
        return pack_ids
    spec = subset.strip()
    if match := re.fullmatch(r"(\d+(?:\.\d+)?)%", spec):
        percent = float(match.group(1))
        if not 0 < percent <= 100:
            raise UsageError(f"read-data subset {spec}: percentage must be in (0, 100]")
        count = max(1, round(len(pack_ids) * percent / 100)) if pack_ids else 0
        return random.sample(pack_ids, count)
    if match := re.fullmatch(r"(\d+)/(\d+)", spec):
        part, total = int(match.group(1)), int(match.group(2))
        if not 1 <= part <= total:
            raise UsageError(f"read-data subset {spec}: need 1 <= n <= t")
        return [p for p in pack_ids if p[0] % total == part - 1]
    raise UsageError(f"read-data subset {spec!r}: use N% or n/t")


def duplicate_copies(records: Iterable[PackRecord]) -> tuple[int, int]:
    """How many blob copies beyond the first are stored, and their bytes (the smallest
    copy of each blob counts as the one kept)."""
    smallest: dict[bytes, int] = {}
    copies = total = 0
    for record in records:
        for entry in record.entries:
            total += entry.length
            copies += 1
            known = smallest.get(entry.blob_id)
            smallest[entry.blob_id] = entry.length if known is None else min(known, entry.length)
    return copies - len(smallest), total - sum(smallest.values())


def record_damage(
    repo: Repository,
    damaged: Iterable[Copy],
    indexed_packs: Collection[bytes],
    read_packs: Collection[bytes],
) -> set[Copy]:
    """Remember the damaged copies for this client's later sessions (see
    :mod:`keyark.repo.damage`) and mark them in the open index; return the record."""
    found = set(damaged)
    recorded = save_damage(
        record_path(repo.keys.trust),
        found,
        indexed_packs=indexed_packs,
        read_packs=read_packs,
    )
    repo.blobs.index.mark_damaged(found)
    return recorded


__all__ = ["REPAIR_THE_PACK", "duplicate_copies", "record_damage", "select_packs"]
