"""Blob copies a data check found damaged, remembered so backups stop deduplicating on them.

``check`` with data reading records every stored blob copy that did not verify
(and every copy in a pack that is missing or truncated) as a (blob id, pack id)
pair in ``<cache-dir>/damage/<repository-id>.json`` (0600 in a 0700 directory,
no secret). When this client loads the index, those copies no longer satisfy
dedup (:meth:`keyark.repo.index.MasterIndex.mark_damaged`), so the next backup
stores the lost content again instead of pointing a new snapshot at a damaged
copy. ``repair packs`` then salvages the rest of the pack and unindexes it, after
which an entry names a pack no index lists and is dropped by the next check.

The record is a client cache like the trust record beside it: without a cache
directory nothing is remembered, and only a repair heals the repository for
every client.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from pathlib import Path

from keyark.cache_dir import is_cache_failure, private_directory, warn_cache_unusable
from keyark.repo.trust_state import TrustState

#: A damaged copy: (blob id, pack id).
Copy = tuple[bytes, bytes]


def record_path(trust: TrustState | None) -> Path | None:
    """Where the damage record of the repository lives (None: no cache directory)."""
    if trust is None or trust.path is None:
        return None
    return trust.path.parent.parent / "damage" / trust.path.name


def load_damage(path: Path | None) -> set[Copy]:
    """The recorded damaged copies (empty when absent, unreadable or malformed)."""
    if path is None:
        return set()
    try:
        document = json.loads(path.read_bytes())
        return {(bytes.fromhex(blob), bytes.fromhex(pack)) for blob, pack in document["copies"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def save_damage(
    path: Path | None,
    found: Iterable[Copy],
    *,
    indexed_packs: Collection[bytes],
    read_packs: Collection[bytes],
) -> set[Copy]:
    """Record ``found``; keep earlier entries for packs still indexed and not read now.

    Returns what is recorded. An empty record removes the file; a full or
    unwritable cache directory is warned about and the record stays as it was.
    """
    if path is None:
        return set(found)
    kept = {
        (blob, pack)
        for blob, pack in load_damage(path)
        if pack in indexed_packs and pack not in read_packs
    }
    recorded = kept | set(found)
    temp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        if not recorded:
            path.unlink(missing_ok=True)
            return recorded
        private_directory(path.parent)
        document = {"copies": sorted([blob.hex(), pack.hex()] for blob, pack in recorded)}
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        if not is_cache_failure(error):
            raise
        warn_cache_unusable(path.parent.parent, error, "damaged-blob record")
    return recorded


__all__ = ["Copy", "load_damage", "record_path", "save_damage"]
