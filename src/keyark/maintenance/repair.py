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
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from keyark.crypto.envelope import envelope_key_id
from keyark.errors import BackendError, IntegrityError
from keyark.maintenance.salvage import SalvageReport, old_index_records, salvage_packs
from keyark.repo.index import BlobLocation, PackRecord
from keyark.repo.pack import (
    TRAILER_SIZE,
    PackEntry,
    header_span,
    pack_id_from_name,
    pack_name,
    parse_header,
)
from keyark.repo.packer import write_index_file
from keyark.repo.repository import Repository

PACKS_PER_INDEX_FILE = 4096


@dataclass
class RepairSummary:
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
    data = repo.backend.get(pack_name(pack_id))
    if len(data) != size or not hmac.compare_digest(hashlib.sha256(data).digest(), pack_id):
        raise IntegrityError("its bytes do not match its SHA-256 name")
    offset, length = header_span(len(data), data[-TRAILER_SIZE:])
    sealed = data[offset : offset + length]
    key_id = envelope_key_id(sealed)
    entries = parse_header(repo.sealer_for(key_id), sealed)
    trusted = key_id in repo.keyring.data_keys
    good: list[PackEntry] = []
    bad: list[str] = []
    view = memoryview(data)
    for entry in entries:
        location = BlobLocation.in_pack(pack_id, entry, key_id, trusted)
        try:
            if entry.offset + entry.length > offset:
                raise IntegrityError("blob overlaps the header")
            repo.decode_blob(location, view[entry.offset : entry.offset + entry.length], key_id)
        except IntegrityError as error:
            bad.append(f"blob {entry.blob_id.hex()[:16]} in pack {pack_id.hex()[:16]}: {error}")
            continue
        good.append(entry)
    return PackRecord(pack_id, size, good, key_id, trusted), bad


def repair_index(
    repo: Repository, warn: Callable[[str], None] | None = None, retry_lock: float = 0.0
) -> RepairSummary:
    """Prove every pack, salvage the damaged ones, write a fresh index, read it back, then
    delete the old index files.

    Every blob that still verifies in a damaged pack is copied into a new pack first
    (the summary counts what could not be saved); nothing is deleted before the new
    index reads back.
    """
    summary = RepairSummary()

    def report(message: str, into: list[str]) -> None:
        into.append(message)
        if warn is not None:
            warn(message)

    with repo.lock("repair index", exclusive=True, retry=retry_lock):
        old = [info.name for info in repo.backend.list("index/")]
        known = old_index_records(repo, old, warn)
        stored = _stored_packs(repo)
        damaged: list[bytes] = []

        def read(item: tuple[bytes, int]) -> PackRecord | None:
            pack_id, size = item
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
        salvage = salvage_packs(repo, damaged, known, safe)
        _note_salvage(summary, salvage, warn)
        if salvage.saved:
            # The salvaged copies are in new packs, listed by the packer's own index file:
            # prove them like every other pack and fold them into the rebuilt index.
            fresh = {p: s for p, s in _stored_packs(repo).items() if p not in stored}
            records.extend(_read_all(repo, read, fresh))
            old = [info.name for info in repo.backend.list("index/")]
        sealer = repo.current_sealer()
        written: list[str] = []
        for start in range(0, len(records), PACKS_PER_INDEX_FILE):
            batch = records[start : start + PACKS_PER_INDEX_FILE]
            written.append(write_index_file(repo.backend, sealer, batch, old))
        _prove_written(repo, written, records)
        # The new index is durable and readable: only now do the old files go.
        for name in old:
            if name in written:
                continue
            try:
                repo.backend.delete(name)
                summary.index_files_removed += 1
            except BackendError:
                pass
        summary.packs_indexed = len(records)
        summary.untrusted_packs = sum(1 for r in records if not r.trusted)
        summary.blobs_indexed = sum(len(r.entries) for r in records)
        summary.index_files_written = len(written)
    repo.load_index(reload=True)
    return summary


def _stored_packs(repo: Repository) -> dict[bytes, int]:
    return {
        pack_id: size
        for name, size in repo.iter_pack_names()
        if (pack_id := pack_id_from_name(name)) is not None
    }


def _read_all(
    repo: Repository,
    read: Callable[[tuple[bytes, int]], PackRecord | None],
    packs: dict[bytes, int],
) -> list[PackRecord]:
    workers = max(2, repo.backend.capabilities().connections)
    with ThreadPoolExecutor(workers) as pool:
        return [r for r in pool.map(read, sorted(packs.items())) if r is not None]


def _note_salvage(
    summary: RepairSummary, salvage: SalvageReport, warn: Callable[[str], None] | None
) -> None:
    summary.damaged_packs = salvage.packs
    summary.blobs_salvaged = salvage.saved
    summary.blobs_lost = len(salvage.lost)
    if warn is not None and salvage.packs:
        warn(salvage.describe())


def _prove_written(repo: Repository, written: list[str], records: list[PackRecord]) -> None:
    """Read the new index files back; raise (keeping the old ones) if they differ."""
    expected = {(r.pack_id, r.trusted, len(r.entries)) for r in records}
    found: set[tuple[bytes, bool, int]] = set()
    for name in written:
        found.update((r.pack_id, r.trusted, len(r.entries)) for r in repo.read_index_file(name))
    if found != expected:
        raise IntegrityError(
            "the rebuilt index does not read back as written; the old index is kept "
            "(run 'keyark repair index' again)"
        )
