"""``repair index``: rebuild the index from the packs themselves.

Nothing a pack header says is trusted until it is proven: the pack's bytes must
match the SHA-256 in its name, and every blob the header lists must decrypt,
decompress and hash to its id. A pack that fails is reported, not indexed (its
good blobs are indexed when only some fail). Packs sealed under an agent session
key stay untrusted (design D7). The old index files are deleted only after every
new one has been written and read back successfully.

Repair keeps what is readable (issue 9): before a damaged pack is left out, every
blob in it that still verifies is salvaged into a new pack (see
:mod:`keyark.maintenance.salvage`), its offsets taken from the old index when the
pack's header is gone. The damaged pack itself is not deleted (``prune`` removes
it once it is unindexed); the summary says how many blobs could not be saved.

Every pack proven is a cancel checkpoint; a cancel before the new index is written
leaves the old one in place (salvaged copies are in new, indexed packs).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from keyark.context import OperationContext
from keyark.crypto.envelope import envelope_key_id
from keyark.errors import BackendError, Hint, IntegrityError
from keyark.events import Code, Events
from keyark.maintenance.salvage import SalvageReport, old_index_records, salvage_packs
from keyark.repo.index import BlobLocation, PackRecord
from keyark.repo.pack import TRAILER_SIZE, PackEntry, header_span, parse_header
from keyark.repo.repository import Repository
from keyark.repo.rewrite import PACKS_PER_INDEX_FILE, read_pack, rewrite_index
from keyark.results import Summary


@dataclass
class RepairSummary(Summary):
    """What ``repair index`` did."""

    packs_indexed: int = 0
    blobs_indexed: int = 0
    index_files_written: int = 0
    index_files_removed: int = 0
    #: Packs indexed as untrusted (sealed under an agent session key).
    untrusted_packs: int = 0
    unreadable_packs: list[str] = field(default_factory=list)
    #: Blobs left out because they do not verify (pack and blob named).
    bad_blobs: list[str] = field(default_factory=list)
    #: Damaged packs salvaged, blobs copied out of them, blobs that could not be saved.
    damaged_packs: int = 0
    blobs_salvaged: int = 0
    blobs_lost: int = 0


def verified_record(repo: Repository, pack_id: bytes, size: int) -> tuple[PackRecord, list[str]]:
    """Read a whole pack, prove it and its header; return (record of good blobs, bad blobs).

    Raises :class:`IntegrityError` (or a backend error) when the pack cannot be
    trusted at all: wrong SHA-256, unreadable or malformed header.
    """
    content = read_pack(repo, pack_id)
    data = content.data
    if len(data) != size or not content.intact:
        raise IntegrityError("its bytes do not match its SHA-256 name")
    offset, length = header_span(len(data), data[-TRAILER_SIZE:])
    sealed = data[offset : offset + length]
    key_id = envelope_key_id(sealed)
    entries = parse_header(repo.keys.sealer_for(key_id), sealed)
    trusted = key_id in repo.keys.keyring.data_keys
    good: list[PackEntry] = []
    bad: list[str] = []
    view = memoryview(data)
    for entry in entries:
        location = BlobLocation.in_pack(pack_id, entry, key_id, trusted)
        try:
            if entry.offset + entry.length > offset:
                raise IntegrityError("blob overlaps the header")
            repo.blobs.decode_blob(
                location, view[entry.offset : entry.offset + entry.length], key_id
            )
        except IntegrityError as error:
            bad.append(f"blob {entry.blob_id.hex()[:16]} in pack {pack_id.hex()[:16]}: {error}")
            continue
        good.append(entry)
    return PackRecord(pack_id, size, good, key_id, trusted), bad


def repair_index(repo: Repository, ctx: OperationContext | None = None) -> RepairSummary:
    """Prove every pack, salvage the damaged ones, write a fresh index, read it back, then
    delete the old index files.

    Every blob that still verifies in a damaged pack is copied into a new pack first
    (the summary counts what could not be saved); nothing is deleted before the new
    index reads back. ``ctx`` gives the events, the cancel token and the lock wait
    (default: the repository's bound events and cancel token, no wait).
    """
    ctx = ctx or OperationContext(events=repo.events, cancel=repo.cancel)
    summary = RepairSummary()

    def report(message: str, into: list[str]) -> None:
        into.append(message)
        ctx.events.warn(Code.PACK_DAMAGED, message)

    with repo.lock("repair index", exclusive=True, retry=ctx.lock_wait):
        old = repo.packs.index_names()
        known = old_index_records(repo, old, ctx.events)
        stored = repo.stored_packs()
        damaged: list[bytes] = []

        def read(item: tuple[bytes, int]) -> PackRecord | None:
            pack_id, size = item
            ctx.cancel.check()
            try:
                record, bad = verified_record(repo, pack_id, size)
            except (IntegrityError, BackendError) as error:
                message = f"pack {pack_id.hex()[:16]} cannot be indexed: {error}"
                report(message, summary.unreadable_packs)
                damaged.append(pack_id)
                return None
            for message in bad:
                report(f"{message} (left out of the index)", summary.bad_blobs)
            return record if record.entries else None

        records = _read_all(repo, read, stored)
        # Packs the old index lists that are gone: their blobs are lost unless copied.
        damaged.extend(p for p, r in known.items() if p not in stored and r.trusted)
        safe = {e.blob_id for r in records if r.trusted for e in r.entries}
        salvage = salvage_packs(repo, damaged, known, safe, ctx.cancel)
        _note_salvage(summary, salvage, ctx.events)
        if salvage.saved:
            # The salvaged copies are in new packs, listed by the packer's own index file:
            # prove them like every other pack and fold them into the rebuilt index.
            fresh = {p: s for p, s in repo.stored_packs().items() if p not in stored}
            records.extend(_read_all(repo, read, fresh))
            old = repo.packs.index_names()
        ctx.cancel.check()
        # The new index is written and read back; only then do the old files go.
        rewritten = rewrite_index(
            repo,
            records,
            old,
            {},
            prove=lambda written: _prove_written(repo, written, records),
            events=ctx.events,
        )
        summary.index_files_removed = rewritten.index_deleted
        summary.packs_indexed = len(records)
        summary.untrusted_packs = sum(1 for r in records if not r.trusted)
        summary.blobs_indexed = sum(len(r.entries) for r in records)
        summary.index_files_written = len(rewritten.index_written)
    return summary


def _read_all(
    repo: Repository,
    read: Callable[[tuple[bytes, int]], PackRecord | None],
    packs: dict[bytes, int],
) -> list[PackRecord]:
    workers = max(2, repo.connections)
    with ThreadPoolExecutor(workers) as pool:
        return [r for r in pool.map(read, sorted(packs.items())) if r is not None]


def _note_salvage(summary: RepairSummary, salvage: SalvageReport, events: Events) -> None:
    summary.damaged_packs = salvage.packs
    summary.blobs_salvaged = salvage.saved
    summary.blobs_lost = len(salvage.lost)
    if salvage.packs:
        events.warn(Code.PACK_DAMAGED, salvage.describe())


def _prove_written(repo: Repository, written: list[str], records: list[PackRecord]) -> None:
    """Read the new index files back; raise (keeping the old ones) if they differ."""
    expected = {(r.pack_id, r.trusted, len(r.entries)) for r in records}
    found: set[tuple[bytes, bool, int]] = set()
    for name in written:
        found.update(
            (r.pack_id, r.trusted, len(r.entries)) for r in repo.blobs.read_index_file(name)
        )
    if found != expected:
        raise IntegrityError(
            "the rebuilt index does not read back as written; the old index is kept",
            hint=Hint.REPAIR_INDEX,
        )


__all__ = ["PACKS_PER_INDEX_FILE", "RepairSummary", "repair_index", "verified_record"]
