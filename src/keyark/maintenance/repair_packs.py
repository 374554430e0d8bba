"""``repair packs PACK_ID...``: salvage what is readable from named packs, then unindex them.

restic semantics: every blob of the named packs that still verifies (and has no
other indexed copy) is copied into a new pack under the current key (see
:mod:`keyark.maintenance.salvage`); then every index file that lists a named pack
is rewritten without it. The named packs stay in storage, unindexed, until
``prune`` removes them; ``repair snapshots`` then deals with what was lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyark.errors import BackendError, IntegrityError, UsageError
from keyark.maintenance.salvage import old_index_records, salvage_packs
from keyark.repo.pack import pack_id_from_name
from keyark.repo.packer import write_index_file
from keyark.repo.repository import Repository

Warn = Callable[[str], None]


@dataclass
class RepairPacksSummary:
    """What ``repair packs`` did."""

    packs: list[str] = field(default_factory=list)
    blobs_salvaged: int = 0
    blobs_already_safe: int = 0
    blobs_lost: int = 0
    index_files_rewritten: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "summary", **vars(self)}


def resolve_packs(repo: Repository, refs: list[str], indexed: set[bytes]) -> set[bytes]:
    """Pack ids for full ids or unique prefixes (stored or indexed packs); UsageError else."""
    known = set(indexed)
    known.update(p for name, _ in repo.iter_pack_names() if (p := pack_id_from_name(name)))
    chosen: set[bytes] = set()
    for ref in refs:
        text = ref.strip().lower().rsplit("/", 1)[-1]
        matches = [p for p in known if text and p.hex().startswith(text)]
        if len(matches) != 1:
            what = "no pack" if not matches else f"{len(matches)} packs"
            raise UsageError(
                f"{what} match {ref!r}; give a pack id from 'keyark check' (nothing was changed)"
            )
        chosen.add(matches[0])
    return chosen


def repair_packs(
    repo: Repository, refs: list[str], warn: Warn | None = None, retry_lock: float = 0.0
) -> RepairPacksSummary:
    """Salvage the readable blobs of the packs ``refs`` names, then remove them from the index.

    Under an exclusive lock. The salvaged copies are durable and indexed before any
    index file is rewritten, and each replacement index file is written before the
    one it replaces is deleted.
    """
    summary = RepairPacksSummary()
    with repo.lock("repair packs", exclusive=True, retry=retry_lock):
        names = sorted(info.name for info in repo.backend.list("index/"))
        known = old_index_records(repo, names, warn)
        targets = resolve_packs(repo, refs, set(known))
        summary.packs = sorted(p.hex() for p in targets)
        safe = {
            e.blob_id for p, r in known.items() if p not in targets and r.trusted for e in r.entries
        }
        salvage = salvage_packs(repo, targets, known, safe)
        summary.blobs_salvaged = salvage.saved
        summary.blobs_already_safe = salvage.already_safe
        summary.blobs_lost = len(salvage.lost)
        if warn is not None and salvage.lost:
            warn(salvage.describe())
        sealer = repo.current_sealer()
        replaced: list[str] = []
        for name in names:
            try:
                records = repo.read_index_file(name)
            except (IntegrityError, BackendError):
                continue  # lists nothing anyone can use; 'repair index' removes it
            if not any(r.pack_id in targets for r in records):
                continue
            keep = [r for r in records if r.pack_id not in targets]
            if keep:
                write_index_file(repo.backend, sealer, keep, [name])
            replaced.append(name)
        for name in replaced:  # every replacement is durable: the old files may go
            repo.backend.delete(name)
        summary.index_files_rewritten = len(replaced)
    repo.load_index(reload=True)
    return summary
