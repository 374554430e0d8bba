"""Salvage: copy every readable blob out of a damaged pack before the pack is given up.

A pack is damaged when its bytes no longer match its SHA-256 name (truncated, a
flipped byte, replaced) or its header cannot be read. Its blobs may still be
readable: the index that listed the pack knows each blob's offset even when the
header at the end of the pack is gone. :func:`salvage_packs` reads each damaged
pack once, takes the blob list from the old index and (when it still opens) the
pack's own header, verifies every blob (decrypt, decompress, hash to its id) and
re-seals the good ones under the current data key into new packs through the
repository's packer (design D7: what it writes is verified, so it is trusted).

Only packs sealed with a keyring data key are salvaged; an agent's pack (sealed
with a session key) is never promoted to trusted. A blob that already has a
verified copy elsewhere is not copied again. Blobs that fail are counted, so the
caller can say what could not be saved.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from keyark.cancel import NEVER, CancelToken
from keyark.crypto.envelope import envelope_key_id
from keyark.errors import BackendError, IntegrityError
from keyark.events import Code, Events
from keyark.repo.index import BlobLocation, PackRecord, merge_pack_record
from keyark.repo.pack import TRAILER_SIZE, PackEntry, header_span, parse_header
from keyark.repo.repository import Repository


@dataclass
class SalvageReport:
    """What :func:`salvage_packs` copied out of damaged packs and what it could not."""

    #: Damaged packs looked at.
    packs: int = 0
    #: Blobs re-packed under the current key.
    saved: int = 0
    #: Blobs not copied because a verified copy exists elsewhere.
    already_safe: int = 0
    #: Blob id -> why it could not be saved.
    lost: dict[bytes, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the user (empty when nothing was damaged)."""
        if not self.packs:
            return ""
        line = f"salvaged {self.saved} blob(s) from {self.packs} damaged pack(s)"
        if self.lost:
            line += (
                f"; {len(self.lost)} blob(s) could not be saved "
                "(a dry run of repair snapshots shows the files they belong to)"
            )
        return line


def old_index_records(
    repo: Repository, names: Collection[str], events: Events | None = None
) -> dict[bytes, PackRecord]:
    """What the readable index files among ``names`` say about each pack (merged).

    An unreadable index file is skipped (and reported to ``events``).
    """
    records: dict[bytes, PackRecord] = {}
    for name in sorted(names):
        try:
            found = repo.blobs.read_index_file(name)
        except (IntegrityError, BackendError) as error:
            if events is not None:
                message = f"{error}; its packs are indexed from their headers"
                events.warn(Code.INDEX_DAMAGED, message, subject=name)
            continue
        for record in found:
            merge_pack_record(records, record)
    return records


def _header_of(repo: Repository, data: bytes) -> tuple[list[PackEntry], bytes]:
    """The entries and key id of a damaged pack's header, or ([], b"") if it is unreadable."""
    try:
        offset, length = header_span(len(data), data[-TRAILER_SIZE:])
        sealed = data[offset : offset + length]
        key_id = envelope_key_id(sealed)
        if key_id not in repo.keys.keyring.data_keys:
            return [], b""
        return parse_header(repo.keys.sealer_for(key_id), sealed), key_id
    except (IntegrityError, BackendError):
        return [], b""


def salvage_pack(
    repo: Repository,
    pack_id: bytes,
    known: PackRecord | None,
    safe: set[bytes],
    report: SalvageReport,
    cancel: CancelToken = NEVER,
) -> None:
    """Re-pack every readable blob of one damaged pack that has no good copy in ``safe``.

    ``known`` is what the old index listed for the pack; ``safe`` (blob ids with a
    verified copy) grows with every blob saved. Call under an exclusive lock, then
    flush the repository.
    """
    report.packs += 1
    entries = list(known.entries) if known is not None else []
    key_id = known.key_id if known is not None and known.trusted else b""
    try:
        data = repo.packs.read(pack_id)
    except BackendError as error:
        data, reason = b"", f"pack {pack_id.hex()[:16]} cannot be read: {error}"
    else:
        reason = f"pack {pack_id.hex()[:16]} is damaged at this blob"
        header, header_key = _header_of(repo, data)
        listed = set(entries)
        entries.extend(e for e in header if e not in listed)
        key_id = key_id or header_key
    if key_id and key_id not in repo.keys.keyring.data_keys:
        key_id = b""  # an agent's pack is never promoted to trusted
    view = memoryview(data)
    for entry in entries:
        cancel.check()
        if entry.blob_id in safe:
            report.already_safe += 1
            continue
        sealed = view[entry.offset : entry.offset + entry.length]
        if not key_id or len(sealed) != entry.length:
            report.lost.setdefault(entry.blob_id, reason)
            continue
        location = BlobLocation.in_pack(pack_id, entry, key_id, True)
        try:
            fresh = repo.blobs.reseal_blob(location, sealed, key_id)
        except IntegrityError as error:
            report.lost.setdefault(entry.blob_id, f"{reason}: {error}")
            continue
        repo.blobs.packer().add(
            entry.kind, entry.blob_id, fresh, entry.raw_length, entry.compression
        )
        safe.add(entry.blob_id)
        report.lost.pop(entry.blob_id, None)
        report.saved += 1


def salvage_packs(
    repo: Repository,
    damaged: Collection[bytes],
    known: dict[bytes, PackRecord],
    safe: set[bytes],
    cancel: CancelToken = NEVER,
) -> SalvageReport:
    """Salvage each pack in ``damaged`` (see :func:`salvage_pack`) and flush the copies.

    On return every saved blob is in a new, durable, indexed pack (the packer's own
    index file lists it; a caller rebuilding the index includes those packs too).
    A storage error while writing propagates: nothing has been deleted then.
    """
    report = SalvageReport()
    for pack_id in sorted(damaged):
        salvage_pack(repo, pack_id, known.get(pack_id), safe, report, cancel)
    for blob_id in list(report.lost):
        if blob_id in safe:
            del report.lost[blob_id]
    if report.saved:
        repo.blobs.flush()
    return report


__all__ = ["SalvageReport", "old_index_records", "salvage_pack", "salvage_packs"]
