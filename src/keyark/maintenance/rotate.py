"""Data-key rotation (epochs) and re-encryption of everything sealed with retired keys.

``rotate`` makes a fresh data key current; retired keys keep decrypting.
``rotate --reencrypt`` also rewrites, under an exclusive lock and in crash-safe
order, every pack, index file and snapshot sealed with a retired key (agents'
session keys included), then deletes the old objects and finally the retired
keys. A marker in the keyring makes an interrupted run resumable: running it
again finishes the job with the same target key, and first adopts the packs the
interrupted run had already sealed under that key (:mod:`keyark.repo.adoption`),
so their blobs are not re-encrypted and uploaded again.

Re-encryption reports progress (phase ``re-encrypt``: packs done of the packs to
rewrite) and warnings to the context's events and checks its cancel token per pack;
a cancelled run releases its lock, and the next run resumes it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from keyark.context import OperationContext
from keyark.crypto.envelope import envelope_key_id
from keyark.crypto.keyring import CURRENT, Keyring
from keyark.errors import BackendError, Hint, IntegrityError, NotFoundError, UsageError
from keyark.events import Code, Events
from keyark.maintenance.repair import PACKS_PER_INDEX_FILE
from keyark.repo import key_store
from keyark.repo.adoption import adopt_unindexed
from keyark.repo.config import CONFIG_NAME
from keyark.repo.index import BlobLocation, MasterIndex, PackRecord, merge_pack_record
from keyark.repo.pack import pack_id_from_name, pack_name
from keyark.repo.packer import Packer, write_index_file
from keyark.repo.repository import SESSION_PREFIX, Repository
from keyark.repo.snapshot import SNAPSHOT_PREFIX
from keyark.repo.snapshot_trust import keep_provenance

MARKER = "reencrypt"


@dataclass(frozen=True)
class RotationPolicy:
    """When a data key is due for rotation (stored in the repository config)."""

    max_age_days: int = 90
    warn_age_days: int = 80
    #: AES-GCM with random 96-bit nonces: stay far below 2^32 encryptions per key.
    max_encryptions: int = 2**31
    warn_encryptions: int = 2**30

    @classmethod
    def of(cls, repo: Repository) -> RotationPolicy:
        data = repo.config.policies.get("rotation", {})
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Epoch:
    """One data key as ``key status`` reports it."""

    id: str
    created: str
    age_days: float
    state: str
    objects: int = 0
    blobs: int = 0


@dataclass
class KeyStatus:
    """Epochs, and whether (and when) rotation is due."""

    epochs: list[Epoch]
    current: str
    due: bool
    warn: bool
    reason: str
    next_due: str
    reencrypt_pending: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReencryptSummary:
    """What ``rotate --reencrypt`` did."""

    target_key: str = ""
    #: Packs an interrupted run had already re-encrypted, now indexed and kept.
    packs_adopted: int = 0
    packs_rewritten: int = 0
    blobs_rewritten: int = 0
    packs_deleted: int = 0
    index_files_written: int = 0
    index_files_deleted: int = 0
    snapshots_rewritten: int = 0
    session_keys_deleted: int = 0
    retired_keys_removed: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _created(created: str) -> datetime:
    value = datetime.fromisoformat(created)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------- status and policy
def rotation_due(repo: Repository, blobs_of_current: int | None = None) -> tuple[bool, bool, str]:
    """(due, warn, reason) for the current key, from its age and use."""
    policy = RotationPolicy.of(repo)
    current = repo.keyring.current
    age = (datetime.now(UTC) - _created(current.created)).total_seconds() / 86400
    used = blobs_of_current
    if used is None:
        used = repo.index.blobs_per_key().get(current.key_id, 0)
    if age >= policy.max_age_days:
        return True, True, f"the data key is {age:.0f} days old (policy: {policy.max_age_days})"
    if used >= policy.max_encryptions:
        return True, True, f"the data key sealed {used} blobs (budget {policy.max_encryptions})"
    if age >= policy.warn_age_days:
        return (
            False,
            True,
            f"the data key is {age:.0f} days old; rotation due at {policy.max_age_days}",
        )
    if used >= policy.warn_encryptions:
        return False, True, f"the data key sealed {used} blobs; nearing the nonce budget"
    return False, False, ""


def key_status(repo: Repository) -> KeyStatus:
    """Each epoch with its age, state and how many stored objects it sealed."""
    repo.load_index()
    objects: dict[bytes, int] = {}
    for pack_id in repo.index.packs():
        key = repo.index.pack_key(pack_id)
        objects[key] = objects.get(key, 0) + 1
    for prefix in ("index/", SNAPSHOT_PREFIX):
        for info in repo.backend.list(prefix):
            try:
                key = envelope_key_id(repo.backend.get(info.name, 0, 64))
            except (IntegrityError, BackendError):
                continue
            objects[key] = objects.get(key, 0) + 1
    blobs = repo.index.blobs_per_key()
    now = datetime.now(UTC)
    epochs = [
        Epoch(
            id=dk.key_id.hex(),
            created=dk.created,
            age_days=round((now - _created(dk.created)).total_seconds() / 86400, 2),
            state=dk.state,
            objects=objects.get(dk.key_id, 0),
            blobs=blobs.get(dk.key_id, 0),
        )
        for dk in sorted(repo.keyring.data_keys.values(), key=lambda d: d.created)
    ]
    current = repo.keyring.current
    due, warn, reason = rotation_due(repo, blobs.get(current.key_id, 0))
    policy = RotationPolicy.of(repo)
    next_due = _created(current.created) + timedelta(days=policy.max_age_days)
    return KeyStatus(
        epochs=epochs,
        current=current.key_id.hex(),
        due=due,
        warn=warn,
        reason=reason,
        next_due=next_due.isoformat(timespec="seconds"),
        reencrypt_pending=MARKER in repo.keyring.extra,
    )


# --------------------------------------------------------------------- rotation
def _reload_keyring(repo: Repository) -> Keyring:
    """The live keyring, read again under the lock (and checked against the trust state)."""
    if repo.root_key is None:
        raise UsageError("rotating keys needs a full key (passphrase, key file, HSM)")
    loaded = key_store.load_keyring(repo.backend, repo.root_key, repo.backend.get(CONFIG_NAME))
    if loaded is None:
        raise IntegrityError("the keyring no longer opens with this key; open the repository again")
    keyring, root, _pending = loaded
    if repo.trust is not None:
        repo.trust.check_keyring(keyring.version)
        repo.trust.save()
    repo.keyring, repo.root_key = keyring, root
    repo.forget_sealers()
    return repo.keyring


def rotate(repo: Repository, *, ctx: OperationContext | None = None) -> str:
    """Make a fresh data key current; return its id."""
    lock_wait = ctx.lock_wait if ctx is not None else 0.0
    with repo.lock("key rotate", exclusive=True, retry=lock_wait):
        keyring = _reload_keyring(repo)
        fresh = keyring.rotate()
        repo.save_keyring()
        repo.forget_sealers()
        return fresh.key_id.hex()


def reencrypt(repo: Repository, *, ctx: OperationContext | None = None) -> ReencryptSummary:
    """Rotate (unless resuming) and rewrite everything sealed with retired keys."""
    ctx = ctx or OperationContext()
    started = time.monotonic()
    summary = ReencryptSummary()
    with repo.lock("key rotate (re-encrypt)", exclusive=True, retry=ctx.lock_wait):
        keyring = _reload_keyring(repo)
        if MARKER not in keyring.extra:
            fresh = keyring.rotate()
            keyring.extra[MARKER] = {"target": fresh.key_id.hex(), "started": fresh.created}
            repo.save_keyring()  # durable before anything is sealed with it
            repo.forget_sealers()
        target = bytes.fromhex(keyring.extra[MARKER]["target"])
        if keyring.current.key_id != target:
            raise IntegrityError("keyring's re-encryption marker names a key that is not current")
        summary.target_key = target.hex()
        # Resume: packs an interrupted run already sealed under the target key are
        # indexed (durably) now, so their blobs are kept, not re-encrypted again.
        repo.load_index(reload=True)
        adopted = adopt_unindexed(repo, keys={target}, warn=ctx.events.warner(Code.PACK_DAMAGED))
        summary.packs_adopted = adopted.packs
        _rewrite_packs(repo, target, summary, ctx)
        _rewrite_snapshots(repo, target, summary, ctx)
        for info in list(repo.backend.list(SESSION_PREFIX)):
            if _delete(repo, info.name, ctx.events):
                summary.session_keys_deleted += 1
        retired = [k for k, dk in keyring.data_keys.items() if dk.state != CURRENT]
        for key_id in retired:
            del keyring.data_keys[key_id]
        keyring.extra.pop(MARKER, None)
        repo.save_keyring()
        repo.forget_sealers()
        summary.retired_keys_removed = [k.hex() for k in retired]
    repo.load_index(reload=True)
    summary.duration_seconds = time.monotonic() - started
    return summary


def _rewrite_packs(
    repo: Repository, target: bytes, summary: ReencryptSummary, ctx: OperationContext
) -> None:
    """Re-seal every blob not yet under ``target``, verifying each copy it keeps (D7).

    Trusted records go first, so a verified full-key copy wins over an agent's; a
    copy that fails verification is skipped and another tried. Nothing is deleted
    while a blob that had a trusted copy has no verified one (the only good copy
    must never go); blobs only agents wrote, none verifying, are garbage and dropped.
    """
    old_index = [info.name for info in repo.backend.list("index/")]
    records: dict[bytes, PackRecord] = {}
    for name in old_index:
        for record in repo.read_index_file(name):
            merge_pack_record(records, record)
    stored = {
        pid: size
        for name, size in repo.iter_pack_names()
        if (pid := pack_id_from_name(name)) is not None
    }
    present = [r for r in records.values() if r.pack_id in stored]
    keep = [r for r in present if r.key_id == target and r.trusted]
    kept = {r.pack_id for r in keep}
    rewrite = sorted((r for r in present if r.pack_id not in kept), key=lambda r: not r.trusted)
    index_current = all(_key_of(repo, n) == target for n in old_index)
    if not rewrite and index_current:
        doomed = [p for p in stored if p not in records]
    else:
        new_records: list[PackRecord] = []
        packer = Packer(
            repo.backend,
            MasterIndex(),
            repo.current_sealer,
            repo.config.pack_size,
            on_uploaded=new_records.append,
        )
        sealer = repo.current_sealer()
        done: set[bytes] = {e.blob_id for r in keep for e in r.entries}
        failed: dict[bytes, bool] = {}  # blob id -> whether a trusted copy failed
        total_bytes = sum(r.size for r in rewrite)
        done_bytes = 0
        ctx.events.progress(
            "re-encrypt", files_total=len(rewrite), bytes_total=total_bytes, final=True
        )
        try:
            for number, record in enumerate(rewrite, 1):
                ctx.cancel.check()
                data = repo.backend.get(pack_name(record.pack_id))
                if hashlib.sha256(data).digest() != record.pack_id:
                    ctx.events.warn(
                        Code.PACK_DAMAGED,
                        f"pack {record.pack_id.hex()[:16]} is damaged; verifying each blob",
                        subject=pack_name(record.pack_id),
                    )
                for entry in record.entries:
                    if entry.blob_id in done:
                        continue
                    location = BlobLocation.in_pack(
                        record.pack_id, entry, record.key_id, record.trusted
                    )
                    sealed = data[entry.offset : entry.offset + entry.length]
                    try:
                        resealed = repo.reseal_blob(location, sealed, record.key_id)
                    except IntegrityError:
                        failed[entry.blob_id] = failed.get(entry.blob_id, False) or record.trusted
                        continue
                    packer.add(
                        entry.kind, entry.blob_id, resealed, entry.raw_length, entry.compression
                    )
                    done.add(entry.blob_id)
                    summary.blobs_rewritten += 1
                summary.packs_rewritten += 1
                done_bytes += record.size
                ctx.events.progress(
                    "re-encrypt",
                    files_done=number,
                    files_total=len(rewrite),
                    bytes_done=done_bytes,
                    bytes_total=total_bytes,
                    current=record.pack_id.hex(),
                    final=number == len(rewrite),
                )
            packer.flush()
        finally:
            packer.close()
        interim = list(packer.index_files)  # superseded by the complete index below
        lost = [b for b, trusted in failed.items() if trusted and b not in done]
        if lost:
            raise IntegrityError(
                f"{len(lost)} blob(s) have no copy that verifies (first {lost[0].hex()[:16]}); "
                "nothing was deleted",
                hint=Hint.CHECK_DATA,
            )
        if any(b not in done for b in failed):
            ctx.events.warn(
                Code.PACK_DAMAGED, "dropped agent-written blob copies that failed verification"
            )
        fresh_index = keep + new_records
        written = [
            write_index_file(
                repo.backend, sealer, fresh_index[i : i + PACKS_PER_INDEX_FILE], old_index
            )
            for i in range(0, len(fresh_index), PACKS_PER_INDEX_FILE)
        ]
        summary.index_files_written = len(written)
        # The new index is durable; now the old index files and packs may go.
        for name in old_index + interim:
            if name not in written and _delete(repo, name, ctx.events):
                summary.index_files_deleted += 1
        live = {r.pack_id for r in fresh_index}
        doomed = [p for p in stored if p not in live]
    for pack_id in doomed:
        if _delete(repo, pack_name(pack_id), ctx.events):
            summary.packs_deleted += 1


def _key_of(repo: Repository, name: str) -> bytes:
    try:
        return envelope_key_id(repo.backend.get(name, 0, 64))
    except (IntegrityError, BackendError):
        return b""


def _rewrite_snapshots(
    repo: Repository, target: bytes, summary: ReencryptSummary, ctx: OperationContext
) -> None:
    sealer = repo.sealer_for(target)
    for snapshot_id in repo.snapshot_ids():
        ctx.cancel.check()
        if _key_of(repo, SNAPSHOT_PREFIX + snapshot_id) == target:
            continue
        plaintext, key = repo.load_snapshot_bytes(snapshot_id)
        # A session-key snapshot must not become a full-key one (design D9).
        plaintext = keep_provenance(repo.keyring, plaintext, key)
        if repo.store_snapshot_bytes(plaintext, sealer, overwrite=True) != snapshot_id:
            repo.delete_snapshot(snapshot_id)
        summary.snapshots_rewritten += 1


def _delete(repo: Repository, name: str, events: Events) -> bool:
    try:
        repo.backend.delete(name)
    except NotFoundError:
        return False
    except BackendError as error:
        events.warn(
            Code.DELETE_REFUSED,
            f"could not delete {name}: {error} (run the re-encryption again)",
            subject=name,
        )
        return False
    return True
