"""``repair packs``: salvage what is readable from named packs, then unindex them.

restic semantics: every blob of the named packs that still verifies (and has no
other indexed copy) is copied into a new pack under the current key (see
:mod:`keyark.maintenance.salvage`); then every index file that lists a named pack
is rewritten without it. The named packs stay in storage, unindexed, until
``prune`` removes them; ``repair snapshots`` then deals with what was lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.context import OperationContext
from keyark.errors import Hint, UsageError
from keyark.events import Code
from keyark.maintenance.salvage import old_index_records, salvage_packs
from keyark.repo.repository import Repository
from keyark.repo.rewrite import unindex_packs
from keyark.results import Summary


@dataclass
class RepairPacksSummary(Summary):
    """What ``repair packs`` did."""

    packs: list[str] = field(default_factory=list)
    blobs_salvaged: int = 0
    blobs_already_safe: int = 0
    blobs_lost: int = 0
    index_files_rewritten: int = 0


def resolve_packs(repo: Repository, refs: list[str], indexed: set[bytes]) -> set[bytes]:
    """Pack ids for full ids or unique prefixes (stored or indexed packs); UsageError else."""
    known = set(indexed) | repo.stored_packs().keys()
    chosen: set[bytes] = set()
    for ref in refs:
        text = ref.strip().lower().rsplit("/", 1)[-1]
        matches = [p for p in known if text and p.hex().startswith(text)]
        if len(matches) != 1:
            what = "no pack" if not matches else f"{len(matches)} packs"
            raise UsageError(
                f"{what} match {ref!r}; give the id of a pack a check reported "
                "(nothing was changed)",
                hint=Hint.CHECK,
            )
        chosen.add(matches[0])
    return chosen


def repair_packs(
    repo: Repository, refs: list[str], ctx: OperationContext | None = None
) -> RepairPacksSummary:
    """Salvage the readable blobs of the packs ``refs`` names, then remove them from the index.

    Under an exclusive lock. The salvaged copies are durable and indexed before any
    index file is rewritten, and each replacement index file is written before the
    one it replaces is deleted. ``ctx`` gives the events, the cancel token and the
    lock wait (default: the repository's bound events and cancel token, no wait).
    """
    ctx = ctx or OperationContext(events=repo.events, cancel=repo.cancel)
    summary = RepairPacksSummary()
    with repo.lock("repair packs", exclusive=True, retry=ctx.lock_wait):
        names = sorted(repo.packs.index_names())
        known = old_index_records(repo, names, ctx.events)
        targets = resolve_packs(repo, refs, set(known))
        summary.packs = sorted(p.hex() for p in targets)
        safe = {
            e.blob_id for p, r in known.items() if p not in targets and r.trusted for e in r.entries
        }
        salvage = salvage_packs(repo, targets, known, safe, ctx.cancel)
        summary.blobs_salvaged = salvage.saved
        summary.blobs_already_safe = salvage.already_safe
        summary.blobs_lost = len(salvage.lost)
        if salvage.lost:
            ctx.events.warn(Code.PACK_DAMAGED, salvage.describe())
        ctx.cancel.check()
        summary.index_files_rewritten = len(unindex_packs(repo, names, targets))
    repo.blobs.load_index(reload=True)
    return summary


__all__ = ["RepairPacksSummary", "repair_packs", "resolve_packs"]
