"""Adoption of unindexed packs, so that an interrupted run's uploads are reused.

A run killed after uploading packs but before indexing them leaves those packs
in ``data/`` with no index file naming them ("unindexed"). Without adoption the
next run cannot dedup against them (only indexed, trusted copies count, design
D7) and uploads everything again; the old packs wait for ``prune``.

At the start of every full-key writing operation (``backup``, ``copy`` on the
target, ``key rotate --reencrypt``), under its lock (shared for backup and copy,
exclusive for rotate) and after its index is loaded, :func:`adopt_unindexed`:

1. lists ``data/`` and keeps the packs the master index does not list;
2. reads each one whole and checks that its SHA-256 matches its name (a pack is
   uploaded atomically, so a complete pack always matches; this costs one read of
   the unindexed bytes only, usually none, and rules out damaged or truncated
   packs, whose blobs would otherwise satisfy dedup and be lost silently);
3. opens its sealed header and adopts it only when the header is sealed with a
   keyring data key (``keys`` may narrow that set: rotate adopts only packs
   already under its target key). The AEAD header proves a full-key holder wrote
   the pack; packs sealed with an agent's session key (or anything else) are
   never adopted by a full-key writer (design D7) and are left alone;
4. checks every header entry lies inside the pack's blob area;
5. writes a normal, trusted index file for the adopted packs, *durably*, and
   only then adds them to the master index, so nothing dedups against a pack
   that a later ``prune`` or reader would see as unindexed.

Blobs inside an adopted pack are not decrypted here: the authenticated header
and the SHA-256 over every byte prove the pack is exactly what a full-key writer
stored, and every later read verifies each blob anyway (design D7).

Concurrent writers under a shared lock may adopt the same packs (another
backup's packs still waiting for its index): the same pack then appears in two
index files, which readers merge and ``prune`` tidies. Agents (which cannot read
the index) never adopt: their repository type has no index to adopt into.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from keyark.crypto.envelope import envelope_key_id
from keyark.errors import BackendError, FormatError, IntegrityError
from keyark.events import Code, Events
from keyark.repo.index import PackRecord
from keyark.repo.pack import TRAILER_SIZE, header_span, pack_name, parse_header
from keyark.repo.repository import Repository

#: Packs per adoption index file (as prune and rotate write them).
PACKS_PER_INDEX_FILE = 64
#: Bytes read per request while hashing a pack.
READ_PIECE = 8 * 1024 * 1024


@dataclass
class AdoptionSummary:
    """What :func:`adopt_unindexed` found and did."""

    #: Unindexed packs found in ``data/``.
    unindexed: int = 0
    #: Packs adopted (now listed by a trusted index file) and their bytes.
    packs: int = 0
    bytes: int = 0
    #: Index files written for them.
    index_files: list[str] = field(default_factory=list)
    #: Unindexed packs left alone: (pack name, reason).
    skipped: list[tuple[str, str]] = field(default_factory=list)


def find_unindexed(repo: Repository) -> dict[bytes, int]:
    """Pack id -> size of every stored pack the (loaded) master index does not list."""
    indexed = repo.blobs.index.packs()
    return {p: size for p, size in repo.packs.stored().items() if p not in indexed}


def verify_pack(repo: Repository, pack_id: bytes, size: int, keys: Collection[bytes]) -> PackRecord:
    """A trusted record for one unindexed pack, or :class:`IntegrityError` saying why not.

    The pack's bytes must hash to its name, its header must be sealed with one of
    ``keys`` (keyring data keys) and open, and every entry must lie in the blob area.
    """
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        piece = repo.packs.read(pack_id, offset, min(READ_PIECE, size - offset))
        if not piece:
            break
        digest.update(piece)
        offset += len(piece)
    if offset != size or not hmac.compare_digest(digest.digest(), pack_id):
        raise IntegrityError("content does not match its SHA-256 name (incomplete or damaged)")
    try:
        trailer = repo.packs.read(pack_id, size - TRAILER_SIZE, TRAILER_SIZE)
        start, length = header_span(size, trailer)
        sealed = repo.packs.read(pack_id, start, length)
        key_id = envelope_key_id(sealed)
        if key_id not in keys:
            raise IntegrityError("sealed with a key that is not a keyring data key here")
        entries = parse_header(repo.keys.sealer_for(key_id), sealed)
    except FormatError as error:
        raise IntegrityError(str(error)) from None
    if not entries or any(e.offset + e.length > start for e in entries):
        raise IntegrityError("header lists a blob outside the pack's blob area")
    return PackRecord(pack_id, size, entries, key_id, trusted=True)


def adopt_unindexed(
    repo: Repository,
    *,
    keys: Collection[bytes] | None = None,
    events: Events | None = None,
) -> AdoptionSummary:
    """Index the complete, full-key packs no index lists; return what was done.

    Call under the operation's lock, after the index is loaded, before anything
    dedups. ``keys`` limits adoption to packs sealed with those data keys
    (default: every keyring data key). The index files are durable before the
    master index learns the packs. (Agents never adopt: an
    :class:`~keyark.repo.agent_session.AgentRepository` is not a :class:`Repository`.)
    A pack that fails a check is skipped (it stays unindexed; prune removes it);
    damaged ones are warned about (:data:`~keyark.events.Code.PACK_DAMAGED`) to
    ``events`` (default ``repo.events``). Storage errors while writing the index
    propagate.
    """
    summary = AdoptionSummary()
    repo.blobs.load_index()
    data_keys = set(repo.keys.keyring.data_keys)
    allowed = data_keys if keys is None else set(keys) & data_keys
    unindexed = find_unindexed(repo)
    summary.unindexed = len(unindexed)
    if not unindexed:
        return summary

    def attempt(item: tuple[bytes, int]) -> PackRecord | tuple[str, str]:
        pack_id, size = item
        try:
            return verify_pack(repo, pack_id, size, allowed)
        except (IntegrityError, BackendError) as error:
            return pack_name(pack_id), str(error)

    records: list[PackRecord] = []
    workers = repo.packs.connections
    with ThreadPoolExecutor(workers, thread_name_prefix="keyark-adopt") as pool:
        for outcome in pool.map(attempt, sorted(unindexed.items())):
            if isinstance(outcome, PackRecord):
                records.append(outcome)
            else:
                summary.skipped.append(outcome)
    damaged = [s for s in summary.skipped if "SHA-256" in s[1]]
    if damaged:
        message = (
            f"{len(damaged)} unindexed pack(s) are incomplete or damaged, first "
            f"{damaged[0][0]}; not reused (prune removes them)"
        )
        (events or repo.events).warn(Code.PACK_DAMAGED, message, subject=damaged[0][0])
    if not records:
        return summary
    sealer = repo.keys.current_sealer()
    for start in range(0, len(records), PACKS_PER_INDEX_FILE):
        chunk = records[start : start + PACKS_PER_INDEX_FILE]
        summary.index_files.append(repo.packs.write_index(chunk, sealer=sealer))
    # Durable now: only from here on may anything dedup against these packs.
    for record in records:
        repo.blobs.add_record(record)
    summary.packs = len(records)
    summary.bytes = sum(r.size for r in records)
    return summary
