"""Prune's plan: which blobs are used, and which packs to keep, repack or delete.

Computed under the lock before anything is written (and all a dry run
reports). Every snapshot must be readable, every blob they use indexed, and
every indexed pack stored with the size the index gives; otherwise prune
refuses before writing or deleting anything. A blob stored in several packs
belongs to the one with the largest used share; the others' copies are unused.
Partly used packs are repacked, most wasteful first, while the unused space is
above the unused-space limit and within the repack size limit. Packs no index lists
are orphans (under the exclusive lock no backup is running).

Trust (design D7): the kept copy of a used blob is a trusted (full-key) one when
there is one, and whenever a blob has several copies the kept one is verified
(decrypted, decompressed, id recomputed) before any other may be deleted; a copy
that fails is passed over. Untrusted (agent-written) index records that name
missing packs or disagree with storage are ignored, not obeyed.

A fragmented index (many small index files, :mod:`keyark.maintenance.index_compact`)
is rewritten even when no pack goes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from keyark.cancel import NEVER, CancelToken
from keyark.errors import BackendError, IntegrityError
from keyark.events import Code
from keyark.maintenance.index_compact import needs_compaction
from keyark.maintenance.usage import Note, load_all_snapshots, refusal, used_blobs
from keyark.repo.index import BlobLocation, PackRecord, merge_pack_record
from keyark.repo.repository import Repository
from keyark.units import UnusedLimit


@dataclass
class PruneOptions:
    """Unused space to tolerate, the most to repack per run, and whether to change nothing."""

    max_unused: UnusedLimit = field(default_factory=UnusedLimit)
    max_repack_size: int | None = None
    dry_run: bool = False


@dataclass
class PrunePlan:
    """What prune will do, and the numbers behind it."""

    snapshots: int = 0
    used_blobs: int = 0
    used_bytes: int = 0
    unused_blobs: int = 0
    unused_bytes: int = 0
    keep: list[bytes] = field(default_factory=list)
    repack: list[bytes] = field(default_factory=list)
    delete: list[bytes] = field(default_factory=list)
    orphans: dict[bytes, int] = field(default_factory=dict)
    records: dict[bytes, PackRecord] = field(default_factory=dict)
    #: For each used blob, the one pack whose copy is kept.
    owner: dict[bytes, bytes] = field(default_factory=dict)
    index_files: list[str] = field(default_factory=list)
    repack_used_bytes: int = 0
    unused_after: int = 0
    #: Untrusted index records ignored, and copies that failed verification.
    notes: list[Note] = field(default_factory=list)
    #: An untrusted index file could not be read (orphans are then kept).
    skipped_index: bool = False
    #: Session keys of unreadable agent snapshots: every pack they sealed is kept.
    kept_keys: set[bytes] = field(default_factory=set)
    #: The index is fragmented: it is rewritten even if no pack goes
    #: (:mod:`keyark.maintenance.index_compact`).
    compacts_index: bool = False

    @property
    def changes_index(self) -> bool:
        return bool(self.repack or self.delete or self.compacts_index)

    @property
    def nothing_to_do(self) -> bool:
        return not (self.changes_index or self.orphans)

    def size_of(self, packs: Collection[bytes]) -> int:
        return sum(self.records[p].size for p in packs)

    def to_dict(self) -> dict[str, Any]:
        counted = ("snapshots", "used_blobs", "used_bytes", "unused_blobs", "unused_bytes")
        return {
            **{name: getattr(self, name) for name in counted},
            "packs_kept": len(self.keep),
            "packs_to_delete": len(self.delete),
            "bytes_to_delete": self.size_of(self.delete),
            "packs_to_repack": len(self.repack),
            "bytes_to_repack": self.size_of(self.repack),
            "bytes_to_copy": self.repack_used_bytes,
            "unindexed_packs": len(self.orphans),
            "unindexed_bytes": sum(self.orphans.values()),
            "unused_bytes_after": self.unused_after,
            "estimated_bytes_freed": self.estimated_freed(),
            "index_files": len(self.index_files),
            "compacts_index": self.compacts_index,
        }

    def estimated_freed(self) -> int:
        gone = self.size_of(self.delete) + self.size_of(self.repack) + sum(self.orphans.values())
        return gone - self.repack_used_bytes


# --------------------------------------------------------------------- plan
def _read_index(repo: Repository, plan: PrunePlan, stored: dict[bytes, int]) -> None:
    """Load every index file into ``repo.blobs.index`` and ``plan.records``; refuse if one fails.

    Untrusted records naming a pack that is not stored with that size are ignored.
    """
    repo.blobs.index.clear()
    disputed: set[bytes] = set()
    for name in repo.packs.index_names():
        try:
            records = repo.blobs.read_index_file(name)
        except IntegrityError as error:
            if _sealed_by_keyring(repo, name):
                raise refusal(f"index file {name} is unreadable ({error})") from None
            # An agent's (untrusted) index file: skip it, and keep every unindexed
            # pack, since it may list some of them.
            message = f"{error}; skipped, and unindexed packs are kept"
            plan.notes.append(Note(Code.INDEX_DAMAGED, message))
            plan.skipped_index = True
            continue
        except BackendError as error:
            raise refusal(f"index file {name} is unreadable ({error})") from None
        plan.index_files.append(name)
        for record in records:
            if not record.trusted and stored.get(record.pack_id) != record.size:
                message = (
                    f"ignored an untrusted record of pack {record.pack_id.hex()[:16]} "
                    f"in {name}: the pack is not stored with that size"
                )
                plan.notes.append(Note(Code.INDEX_UNTRUSTED, message))
                continue
            known = plan.records.get(record.pack_id)
            both_untrusted = known is not None and not (known.trusted or record.trusted)
            if both_untrusted and known is not None and known.key_id != record.key_id:
                disputed.add(record.pack_id)
            repo.blobs.add_record(record)
            if merge_pack_record(plan.records, record) is not None:
                raise refusal(
                    f"index files disagree on the size of pack {record.pack_id.hex()[:16]}"
                )
    for pack_id in sorted(disputed):
        _settle_dispute(repo, plan, pack_id, stored[pack_id])


def _settle_dispute(repo: Repository, plan: PrunePlan, pack_id: bytes, size: int) -> None:
    """Untrusted index files name different keys for one pack (an agent lied about
    another's pack, or about its own): the pack's own header, read from storage, says
    which key sealed it and what it holds. The record is rebuilt from it (still
    untrusted), so the rewritten index cannot carry a lie whose effect depended on the
    order the index files were read in."""
    short = pack_id.hex()[:16]
    record = plan.records[pack_id]
    if record.trusted:
        return
    try:
        entries, key_id = repo.blobs.pack_header(pack_id, size)
    except (IntegrityError, BackendError) as error:
        message = f"untrusted index files disagree on the key of pack {short}: {error}"
        plan.notes.append(Note(Code.INDEX_UNTRUSTED, message))
        return
    plan.records[pack_id] = PackRecord(pack_id, size, entries, key_id, False)
    message = f"untrusted index files disagree on the key of pack {short}; its header decides"
    plan.notes.append(Note(Code.INDEX_UNTRUSTED, message))


def _sealed_by_keyring(repo: Repository, name: str) -> bool:
    try:
        return repo.packs.index_key_id(name) in repo.keys.keyring.data_keys
    except (IntegrityError, BackendError):
        return False


def plan_prune(
    repo: Repository,
    options: PruneOptions,
    excluded: Collection[str] = (),
    cancel: CancelToken = NEVER,
) -> PrunePlan:
    """Compute what to keep, repack and delete (the lock must be held).

    ``excluded`` snapshots count as already forgotten (forget with prune plans first).
    """
    plan = PrunePlan()
    stored = repo.stored_packs()
    _read_index(repo, plan, stored)
    for pack_id, record in plan.records.items():
        size = stored.get(pack_id)
        if size is None:
            raise refusal(f"pack {pack_id.hex()[:16]} is in the index but missing from storage")
        if size != record.size:
            raise refusal(
                f"pack {pack_id.hex()[:16]} has {size} bytes but the index says {record.size}"
            )
    if not plan.skipped_index:
        plan.orphans = {p: size for p, size in stored.items() if p not in plan.records}
    snapshots = load_all_snapshots(repo, plan, cancel)
    plan.snapshots = sum(1 for s in snapshots if s.id not in excluded)
    used = used_blobs(repo, snapshots, excluded, plan, cancel)
    _assign_owners(repo, plan, used, cancel)
    homeless = used - plan.owner.keys()
    if homeless:  # pragma: no cover - the master index is built from the same records
        blob = next(iter(homeless))
        raise refusal(f"blob {blob.hex()[:16]} has no pack in the index")
    _classify(plan, options)
    plan.compacts_index = needs_compaction(len(plan.index_files), len(plan.records))
    return plan


def _assign_owners(
    repo: Repository, plan: PrunePlan, used: set[bytes], cancel: CancelToken
) -> None:
    """Pick one pack per used blob: trusted first, then the largest used share.

    When a blob has several copies, the chosen copy must verify before any other
    copy may be dropped; a copy that fails is passed over for the next one.
    """
    share: dict[bytes, float] = {}
    for pack_id, record in plan.records.items():
        hits = sum(1 for e in record.entries if e.blob_id in used)
        share[pack_id] = hits / len(record.entries) if record.entries else 0.0
    copies: dict[bytes, list[BlobLocation]] = {}
    order = sorted(plan.records, key=lambda p: (not plan.records[p].trusted, -share[p], p))
    for pack_id in order:
        record = plan.records[pack_id]
        for entry in record.entries:
            if entry.blob_id in used:
                location = BlobLocation.in_pack(pack_id, entry, record.key_id, record.trusted)
                copies.setdefault(entry.blob_id, []).append(location)
    for blob_id, locations in copies.items():
        plan.owner[blob_id] = locations[0].pack_id
        if len(locations) == 1 or len({loc.pack_id for loc in locations}) == 1:
            continue
        for location in locations:
            cancel.check()
            try:
                repo.blobs.read_copy(location)
            except (IntegrityError, BackendError) as error:
                message = (
                    f"copy of blob {blob_id.hex()[:16]} in pack {location.pack_id.hex()[:16]} "
                    f"does not verify ({error}); another copy is kept"
                )
                plan.notes.append(Note(Code.PACK_DAMAGED, message))
                continue
            plan.owner[blob_id] = location.pack_id
            break


def _classify(plan: PrunePlan, options: PruneOptions) -> None:
    partial: list[tuple[float, int, bytes, int]] = []
    for pack_id, record in plan.records.items():
        if record.key_id in plan.kept_keys:
            plan.keep.append(pack_id)
            continue
        used_bytes = unused_bytes = 0
        for entry in record.entries:
            if plan.owner.get(entry.blob_id) == pack_id:
                plan.used_blobs += 1
                used_bytes += entry.length
            else:
                plan.unused_blobs += 1
                unused_bytes += entry.length
        plan.used_bytes += used_bytes
        plan.unused_bytes += unused_bytes
        if not used_bytes:
            plan.delete.append(pack_id)
        elif not unused_bytes:
            plan.keep.append(pack_id)
        else:
            ratio = unused_bytes / (used_bytes + unused_bytes)
            partial.append((-ratio, -unused_bytes, pack_id, used_bytes))
    remaining = sum(-item[1] for item in partial)
    allowed = options.max_unused.allowed(plan.used_bytes)
    repacked_size = 0
    for _ratio, minus_unused, pack_id, used_bytes in sorted(partial):
        size = plan.records[pack_id].size
        over_budget = (
            options.max_repack_size is not None and repacked_size + size > options.max_repack_size
        )
        if remaining <= allowed or over_budget:
            plan.keep.append(pack_id)
            continue
        plan.repack.append(pack_id)
        repacked_size += size
        plan.repack_used_bytes += used_bytes
        remaining += minus_unused
    plan.unused_after = remaining


__all__ = ["PruneOptions", "PrunePlan", "plan_prune"]
