"""``prune``: remove data no snapshot uses, crash-safely.

The plan (:mod:`keyark.maintenance.prune_plan`) is computed first and is all
``--dry-run`` prints. Then it is executed in the only order that is safe when
killed at any point: used blobs of repacked packs are verified and re-sealed
under the current data key into new packs (adoption: from then on they are
trusted, design D7); a complete new index (kept + new packs) is written and
durable; only then are the old index files deleted, and last the unused,
repacked and orphan packs. Running prune again after a kill finishes the job.
Last, temporary objects of killed writes older than a lock's expiry are removed
(:mod:`keyark.repo.temporaries`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from keyark.errors import (
    BackendError,
    IntegrityError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
)
from keyark.maintenance.prune_plan import (
    PACKS_PER_INDEX_FILE,
    REPAIR_HINT,
    PruneOptions,
    PrunePlan,
    Warn,
    load_all_snapshots,
    plan_prune,
    used_blobs,
)
from keyark.repo.full_disk import is_disk_full, make_room_for_lock
from keyark.repo.index import BlobLocation, MasterIndex, PackRecord
from keyark.repo.locks import RepositoryLock
from keyark.repo.pack import pack_name
from keyark.repo.packer import Packer, write_index_file
from keyark.repo.repository import Repository
from keyark.repo.temporaries import remove_stale_temporaries

__all__ = [
    "PruneOptions",
    "PrunePlan",
    "PruneSummary",
    "execute_prune",
    "finish_prune",
    "load_all_snapshots",
    "plan_prune",
    "prune",
    "prune_locked",
    "used_blobs",
]


@dataclass
class PruneSummary:
    """What prune did (``prune --json`` prints this)."""

    plan: PrunePlan
    dry_run: bool = False
    packs_deleted: int = 0
    packs_written: int = 0
    blobs_repacked: int = 0
    bytes_deleted: int = 0
    bytes_written: int = 0
    index_files_written: int = 0
    index_files_deleted: int = 0
    #: Stale temporary objects (``.tmp-*`` of killed writes) removed, and their bytes.
    temporaries_deleted: int = 0
    temporary_bytes_deleted: int = 0
    #: Objects storage refused to delete (e.g. under Object Lock retention).
    delete_failures: list[str] = field(default_factory=list)

    def raise_for_failures(self) -> None:
        """Raise :class:`PermanentBackendError` if storage refused deletions."""
        if self.delete_failures:
            raise PermanentBackendError(
                f"prune could not delete {len(self.delete_failures)} object(s), first "
                f"{self.delete_failures[0]}; the repository stays consistent"
            )

    @property
    def bytes_freed(self) -> int:
        return self.bytes_deleted - self.bytes_written

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "summary",
            "dry_run": self.dry_run,
            "plan": self.plan.to_dict(),
            "packs_deleted": self.packs_deleted,
            "packs_written": self.packs_written,
            "blobs_repacked": self.blobs_repacked,
            "bytes_deleted": self.bytes_deleted,
            "bytes_written": self.bytes_written,
            "bytes_freed": self.bytes_freed,
            "index_files_written": self.index_files_written,
            "index_files_deleted": self.index_files_deleted,
            "temporaries_deleted": self.temporaries_deleted,
            "temporary_bytes_deleted": self.temporary_bytes_deleted,
            "delete_failures": self.delete_failures,
        }


# --------------------------------------------------------------------- execute
def execute_prune(
    repo: Repository,
    plan: PrunePlan,
    warn: Warn | None = None,
    guard: Callable[[], None] | None = None,
) -> PruneSummary:
    """Carry out ``plan`` in crash-safe order (the exclusive lock must be held).

    ``guard`` is called before each deleting phase; it raises when the lock
    may have been lost, so nothing is deleted without it.
    """
    guard = guard or (lambda: None)
    summary = PruneSummary(plan)
    for note in plan.notes:
        if warn is not None:
            warn(note)
    old_index = list(plan.index_files)
    new_records: list[PackRecord] = []
    if plan.repack:
        old_index += _repack(repo, plan, new_records, summary, warn)
    if plan.changes_index:
        kept = [plan.records[p] for p in plan.keep] + new_records
        sealer = repo.current_sealer()
        written = [
            write_index_file(
                repo.backend, sealer, kept[start : start + PACKS_PER_INDEX_FILE], old_index
            )
            for start in range(0, len(kept), PACKS_PER_INDEX_FILE)
        ]
        summary.index_files_written = len(written)
        # The new index is durable: the old files, then the packs, may go.
        guard()
        for name in old_index:
            if name not in written and _delete(repo, name, warn, summary.delete_failures):
                summary.index_files_deleted += 1
    doomed = [(p, plan.records[p].size) for p in plan.delete + plan.repack]
    doomed += list(plan.orphans.items())
    guard()
    for pack_id, size in doomed:
        if _delete(repo, pack_name(pack_id), warn, summary.delete_failures):
            summary.packs_deleted += 1
            summary.bytes_deleted += size
    repo.load_index(reload=True)
    return summary


def _repack(
    repo: Repository,
    plan: PrunePlan,
    new_records: list[PackRecord],
    summary: PruneSummary,
    warn: Warn | None = None,
) -> list[str]:
    """Copy the used blobs of the repacked packs into new packs; return new index files."""
    packer = Packer(
        repo.backend,
        MasterIndex(),
        repo.current_sealer,
        repo.config.pack_size,
        on_uploaded=new_records.append,
    )
    try:
        for pack_id in plan.repack:
            for kind, blob_id, sealed, raw_length, compression in _used_blobs_of(
                repo, plan, pack_id, warn
            ):
                packer.add(kind, blob_id, sealed, raw_length, compression)
                summary.blobs_repacked += 1
        packer.flush()
    finally:
        packer.close()
    summary.packs_written = len(new_records)
    summary.bytes_written = sum(r.size for r in new_records)
    return list(packer.index_files)


def _used_blobs_of(
    repo: Repository, plan: PrunePlan, pack_id: bytes, warn: Warn | None = None
) -> Iterator[tuple[int, bytes, bytes, int, int]]:
    """The used blobs of one pack, each verified and re-sealed under the current key.

    A damaged full-key copy stops prune (nothing is deleted); an untrusted
    (agent-written) copy that does not verify held nothing genuine: it is dropped
    with a warning.
    """
    name = pack_name(pack_id)
    data = repo.backend.get(name)
    if not hmac.compare_digest(hashlib.sha256(data).digest(), pack_id):
        raise IntegrityError(f"pack {pack_id.hex()[:16]} does not match its name; {REPAIR_HINT}")
    record = plan.records[pack_id]
    seen: set[bytes] = set()
    for entry in record.entries:
        if plan.owner.get(entry.blob_id) != pack_id or entry.blob_id in seen:
            continue
        seen.add(entry.blob_id)
        sealed = data[entry.offset : entry.offset + entry.length]
        location = BlobLocation.in_pack(pack_id, entry, record.key_id, record.trusted)
        try:
            if len(sealed) != entry.length:
                raise IntegrityError("blob extends past the end of the pack")
            resealed = repo.reseal_blob(location, sealed, record.key_id)
        except IntegrityError as error:
            if not record.trusted:
                if warn is not None:
                    warn(
                        f"untrusted copy of blob {entry.blob_id.hex()[:16]} in pack "
                        f"{pack_id.hex()[:16]} does not verify ({error}); dropped"
                    )
                continue
            raise IntegrityError(
                f"blob {entry.blob_id.hex()[:16]} in pack {pack_id.hex()[:16]} is damaged "
                f"({error}); {REPAIR_HINT}"
            ) from None
        yield entry.kind, entry.blob_id, resealed, entry.raw_length, entry.compression


def _delete(repo: Repository, name: str, warn: Warn | None, failures: list[str]) -> bool:
    try:
        repo.backend.delete(name)
    except NotFoundError:
        return False
    except TransientBackendError as error:
        if warn is not None:
            warn(f"could not delete {name}: {error} (run prune again)")
        return False
    except BackendError as error:
        failures.append(f"{name}: {error}")
        if warn is not None:
            warn(f"could not delete {name}: {error}")
        return False
    return True


def prune(repo: Repository, options: PruneOptions, warn: Warn | None = None) -> PruneSummary:
    """Plan and (unless ``dry_run``) execute a prune under the right lock.

    On a repository disk so full that the lock cannot be written, prune first makes room
    for it (:func:`keyark.repo.full_disk.make_room_for_lock`: stale locks, then packs no
    index lists, and only while no live lock exists) and tries once more; if that is not
    enough it stops with one line saying so. Prune is the command that frees space, so it
    must be able to run at 100% full.
    """
    exclusive = not options.dry_run
    with _prune_lock(repo, exclusive, options.retry_lock) as lock:
        return prune_locked(repo, options, warn, guard=lock.ensure_valid)


def _prune_lock(repo: Repository, exclusive: bool, retry: float) -> RepositoryLock:
    try:
        return repo.lock("prune", exclusive=exclusive, retry=retry)
    except BackendError as error:
        if not is_disk_full(error):
            raise
    make_room_for_lock(repo)
    try:
        return repo.lock("prune", exclusive=exclusive, retry=retry)
    except BackendError as error:
        if not is_disk_full(error):
            raise
        raise BackendError(
            f"the repository disk is full and prune cannot write its lock; free space on "
            f"{repo.backend.location()} (no stale lock or unindexed pack was left to delete) "
            "and run prune again"
        ) from None


def prune_locked(
    repo: Repository,
    options: PruneOptions,
    warn: Warn | None = None,
    guard: Callable[[], None] | None = None,
) -> PruneSummary:
    """Prune while the caller holds the lock (exclusive unless ``dry_run``)."""
    return finish_prune(repo, plan_prune(repo, options), options, warn, guard)


def finish_prune(
    repo: Repository,
    plan: PrunePlan,
    options: PruneOptions,
    warn: Warn | None = None,
    guard: Callable[[], None] | None = None,
) -> PruneSummary:
    """Execute a plan made under the lock still held (nothing on a dry run).

    Also removes stale temporary objects (:mod:`keyark.repo.temporaries`), which
    needs the exclusive lock this implies.
    """
    if options.dry_run:
        return PruneSummary(plan, dry_run=True)
    summary = PruneSummary(plan) if plan.nothing_to_do else execute_prune(repo, plan, warn, guard)
    if guard is not None:
        guard()
    removal = remove_stale_temporaries(repo.backend, warn)
    summary.temporaries_deleted = removal.removed
    summary.temporary_bytes_deleted = removal.bytes
    return summary
