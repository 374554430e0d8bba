"""``prune``: remove data no snapshot uses, crash-safely.

The plan (:mod:`keyark.maintenance.prune_plan`) is computed first and is all
a dry run reports. Then it is executed in the only order that is safe when
killed at any point (the sequence of :mod:`keyark.repo.rewrite`): used blobs of
repacked packs are verified and re-sealed under the current data key into new
packs (adoption: from then on they are trusted, design D7); a complete new index
(kept + new packs) is written and durable; only then are the old index files
deleted, and last the unused, repacked and orphan packs. Running prune again
after a kill finishes the job. A fragmented index (many small index files, as a
fleet of hosts leaves) is rewritten the same way even when no pack goes
(:mod:`keyark.maintenance.index_compact`). Last, temporary objects of killed writes older
than a lock's expiry are removed (:mod:`keyark.repo.temporaries`).

Progress is reported per pack repacked (``repack``) and per object deleted
(``delete``); every blob copied and every object deleted is a cancel checkpoint,
and a cancelled prune is as safe as a killed one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyark.context import OperationContext
from keyark.errors import BackendError, IntegrityError, PermanentBackendError
from keyark.events import Code, Events
from keyark.maintenance.index_compact import write_merged_index
from keyark.maintenance.prune_plan import PruneOptions, PrunePlan, plan_prune
from keyark.maintenance.usage import refusal
from keyark.repo.full_disk import is_disk_full, make_room_for_lock
from keyark.repo.index import PackRecord
from keyark.repo.locks import RepositoryLock
from keyark.repo.pack import pack_name
from keyark.repo.repository import Repository
from keyark.repo.rewrite import BlobCopier, delete_objects, read_pack


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
    ctx: OperationContext,
    guard: Callable[[], None] | None = None,
) -> PruneSummary:
    """Carry out ``plan`` in crash-safe order (the exclusive lock must be held).

    ``guard`` is called before each deleting phase; it raises when the lock
    may have been lost, so nothing is deleted without it.
    """
    guard = guard or (lambda: None)
    summary = PruneSummary(plan)
    for note in plan.notes:
        ctx.events.warn(note.code, note.message)
    old_index = list(plan.index_files)
    new_records: list[PackRecord] = []
    if plan.repack:
        new_records, interim = _repack(repo, plan, summary, ctx)
        old_index += interim
    doomed = {p: plan.records[p].size for p in plan.delete + plan.repack} | plan.orphans
    deleting = _Deletion(repo, ctx, summary.delete_failures, len(doomed))
    if plan.changes_index:
        kept = [plan.records[p] for p in plan.keep] + new_records
        written = write_merged_index(repo, kept, old_index)
        summary.index_files_written = len(written)
        # The new index is durable: the old files, then the packs, may go.
        guard()
        stale = [name for name in old_index if name not in written]
        deleting.total += len(stale)
        summary.index_files_deleted = sum(deleting.delete(name) for name in stale)
    guard()
    for pack_id, size in doomed.items():
        if deleting.delete(pack_name(pack_id), size):
            summary.packs_deleted += 1
            summary.bytes_deleted += size
    deleting.report(final=True)
    repo.blobs.load_index(reload=True)
    return summary


class _Deletion:
    """Deletes objects one by one, reporting progress (each one is a cancel checkpoint).

    A missing object is skipped, a transient failure warned about (a later prune
    deletes it), a refused deletion warned about and listed in ``failures``.
    """

    def __init__(
        self, repo: Repository, ctx: OperationContext, failures: list[str], total: int
    ) -> None:
        self.repo, self.ctx, self.failures, self.total = repo, ctx, failures, total
        self.done = self.bytes = 0

    def delete(self, name: str, size: int = 0) -> bool:
        """Delete ``name``; whether it was deleted now."""
        self.ctx.cancel.check()
        gone = delete_objects(self.repo, [name], {name: size}, self.ctx.events)
        self.failures.extend(gone.refused)
        self.done += 1
        self.bytes += gone.bytes
        self.report()
        return gone.deleted == 1

    def report(self, final: bool = False) -> None:
        self.ctx.events.progress(
            "delete",
            files_done=self.done,
            files_total=self.total,
            bytes_done=self.bytes,
            final=final,
        )


def _repack(
    repo: Repository, plan: PrunePlan, summary: PruneSummary, ctx: OperationContext
) -> tuple[list[PackRecord], list[str]]:
    """Copy the used blobs of the repacked packs into new packs.

    Returns the new packs' records and the interim index files listing them.
    """
    total = plan.size_of(plan.repack)
    done = 0
    with BlobCopier(repo) as copier:
        for number, pack_id in enumerate(plan.repack, 1):
            _copy_used_blobs(repo, plan, pack_id, copier, ctx)
            done += plan.records[pack_id].size
            ctx.events.progress(
                "repack",
                files_done=number,
                files_total=len(plan.repack),
                bytes_done=done,
                bytes_total=total,
                current=pack_name(pack_id),
                final=number == len(plan.repack),
            )
        records = copier.finish()
        interim = copier.index_files
    summary.blobs_repacked = copier.blobs
    summary.packs_written = len(records)
    summary.bytes_written = copier.bytes_written
    return records, interim


def _copy_used_blobs(
    repo: Repository, plan: PrunePlan, pack_id: bytes, copier: BlobCopier, ctx: OperationContext
) -> None:
    """Copy the used blobs of one pack, each verified and re-sealed under the current key.

    A damaged full-key copy stops prune (nothing is deleted); an untrusted
    (agent-written) copy that does not verify held nothing genuine: it is dropped
    with a warning.
    """
    content = read_pack(repo, pack_id)
    if not content.intact:
        raise refusal(f"pack {pack_id.hex()[:16]} does not match its name")
    record = plan.records[pack_id]
    seen: set[bytes] = set()
    for location, sealed in content.copies(record):
        blob_id = location.blob_id
        if plan.owner.get(blob_id) != pack_id or blob_id in seen:
            continue
        seen.add(blob_id)
        ctx.cancel.check()
        try:
            copier.copy(location, sealed, record.key_id)
        except IntegrityError as error:
            if not record.trusted:
                _dropped(ctx.events, blob_id, pack_id, error)
                continue
            raise refusal(
                f"blob {blob_id.hex()[:16]} in pack {pack_id.hex()[:16]} is damaged ({error})"
            ) from None


def _dropped(events: Events, blob_id: bytes, pack_id: bytes, error: IntegrityError) -> None:
    events.warn(
        Code.PACK_DAMAGED,
        f"untrusted copy of blob {blob_id.hex()[:16]} in pack {pack_id.hex()[:16]} "
        f"does not verify ({error}); dropped",
        subject=pack_name(pack_id),
    )


def prune(
    repo: Repository, options: PruneOptions, ctx: OperationContext | None = None
) -> PruneSummary:
    """Plan and (unless ``dry_run``) execute a prune under the right lock.

    ``ctx`` gives the events, the cancel token and the lock wait (default: the
    repository's bound events and cancel token, no wait).

    On a repository disk so full that the lock cannot be written, prune first makes room
    for it (:func:`keyark.repo.full_disk.make_room_for_lock`: stale locks, then packs no
    index lists, and only while no live lock exists) and tries once more; if that is not
    enough it stops with one line saying so. Prune is the operation that frees space, so
    it must be able to run at 100% full.
    """
    ctx = ctx or OperationContext(events=repo.events, cancel=repo.cancel)
    exclusive = not options.dry_run
    with _prune_lock(repo, exclusive, ctx.lock_wait) as lock:
        return prune_locked(repo, options, ctx, guard=lock.ensure_valid)


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
            f"{repo.location} (no stale lock or unindexed pack was left to delete) "
            "and run prune again"
        ) from None


def prune_locked(
    repo: Repository,
    options: PruneOptions,
    ctx: OperationContext,
    guard: Callable[[], None] | None = None,
) -> PruneSummary:
    """Prune while the caller holds the lock (exclusive unless ``dry_run``)."""
    plan = plan_prune(repo, options, cancel=ctx.cancel)
    return finish_prune(repo, plan, options, ctx, guard)


def finish_prune(
    repo: Repository,
    plan: PrunePlan,
    options: PruneOptions,
    ctx: OperationContext,
    guard: Callable[[], None] | None = None,
) -> PruneSummary:
    """Execute a plan made under the lock still held (nothing on a dry run).

    Also removes stale temporary objects (:mod:`keyark.repo.temporaries`), which
    needs the exclusive lock this implies.
    """
    if options.dry_run:
        return PruneSummary(plan, dry_run=True)
    summary = PruneSummary(plan) if plan.nothing_to_do else execute_prune(repo, plan, ctx, guard)
    if guard is not None:
        guard()
    removal = repo.remove_stale_temporaries(events=ctx.events)
    summary.temporaries_deleted = removal.removed
    summary.temporary_bytes_deleted = removal.bytes
    return summary


__all__ = [
    "PruneOptions",
    "PrunePlan",
    "PruneSummary",
    "execute_prune",
    "finish_prune",
    "plan_prune",
    "prune",
    "prune_locked",
]
