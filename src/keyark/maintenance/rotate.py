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

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from keyark.context import OperationContext
from keyark.crypto.keyring import CURRENT, Keyring
from keyark.errors import BackendError, Hint, IntegrityError, UsageError
from keyark.events import Code
from keyark.maintenance.repair import PACKS_PER_INDEX_FILE
from keyark.repo.adoption import adopt_unindexed
from keyark.repo.index import PackRecord, merge_pack_record
from keyark.repo.pack import pack_name
from keyark.repo.repository import Repository
from keyark.repo.rewrite import BlobCopier, delete_objects, read_pack, rewrite_index
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
    #: When the keyring key (KR) was made (init or the last root rotation); None:
    #: the keyring predates that record.
    root_created: str | None = None
    root_age_days: float | None = None

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
    current = repo.keys.keyring.current
    age = (datetime.now(UTC) - _created(current.created)).total_seconds() / 86400
    used = blobs_of_current
    if used is None:
        used = repo.blobs.index.blobs_per_key().get(current.key_id, 0)
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
    repo.blobs.load_index()
    index = repo.blobs.index
    objects: dict[bytes, int] = {}
    for pack_id in index.packs():
        key = index.pack_key(pack_id)
        objects[key] = objects.get(key, 0) + 1
    sealed = [_key_of(repo.packs.index_key_id, name) for name in repo.packs.index_names()]
    sealed += [_key_of(repo.snapshots.key_id_of, sid) for sid in repo.snapshots.ids()]
    for key in sealed:
        if key:
            objects[key] = objects.get(key, 0) + 1
    blobs = index.blobs_per_key()
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
        for dk in sorted(repo.keys.keyring.data_keys.values(), key=lambda d: d.created)
    ]
    current = repo.keys.keyring.current
    due, warn, reason = rotation_due(repo, blobs.get(current.key_id, 0))
    policy = RotationPolicy.of(repo)
    next_due = _created(current.created) + timedelta(days=policy.max_age_days)
    root_created = repo.keys.keyring.root_created
    return KeyStatus(
        epochs=epochs,
        current=current.key_id.hex(),
        due=due,
        warn=warn,
        reason=reason,
        next_due=next_due.isoformat(timespec="seconds"),
        reencrypt_pending=MARKER in repo.keys.keyring.extra,
        root_created=root_created,
        root_age_days=None if root_created is None else _age_days(root_created, now),
    )


def _age_days(created: str, now: datetime) -> float | None:
    try:
        return round((now - _created(created)).total_seconds() / 86400, 2)
    except ValueError:
        return None


# --------------------------------------------------------------------- rotation
def _reload_keyring(repo: Repository) -> Keyring:
    """The live keyring, read again under the lock (and checked against the trust state)."""
    if repo.keys.root_key is None:
        raise UsageError("rotating keys needs a full key (passphrase, key file, HSM)")
    repo.keys.refresh()
    return repo.keys.keyring


def rotate(repo: Repository, *, ctx: OperationContext | None = None) -> str:
    """Make a fresh data key current; return its id."""
    lock_wait = ctx.lock_wait if ctx is not None else 0.0
    with repo.lock("key rotate", exclusive=True, retry=lock_wait):
        keyring = _reload_keyring(repo)
        fresh = keyring.rotate()
        repo.keys.save_keyring()
        repo.keys.forget_sealers()
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
            repo.keys.save_keyring()  # durable before anything is sealed with it
            repo.keys.forget_sealers()
        target = bytes.fromhex(keyring.extra[MARKER]["target"])
        if keyring.current.key_id != target:
            raise IntegrityError("keyring's re-encryption marker names a key that is not current")
        summary.target_key = target.hex()
        # Resume: packs an interrupted run already sealed under the target key are
        # indexed (durably) now, so their blobs are kept, not re-encrypted again.
        repo.blobs.load_index(reload=True)
        adopted = adopt_unindexed(repo, keys={target}, events=ctx.events)
        summary.packs_adopted = adopted.packs
        _rewrite_packs(repo, target, summary, ctx)
        _rewrite_snapshots(repo, target, summary, ctx)
        sessions = delete_objects(repo, repo.keys.session_key_names(), events=ctx.events)
        summary.session_keys_deleted = sessions.deleted
        retired = [k for k, dk in keyring.data_keys.items() if dk.state != CURRENT]
        for key_id in retired:
            del keyring.data_keys[key_id]
        keyring.extra.pop(MARKER, None)
        repo.keys.save_keyring()
        repo.keys.forget_sealers()
        summary.retired_keys_removed = [k.hex() for k in retired]
    repo.blobs.load_index(reload=True)
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
    old_index = repo.packs.index_names()
    records: dict[bytes, PackRecord] = {}
    for name in old_index:
        for record in repo.blobs.read_index_file(name):
            merge_pack_record(records, record)
    stored = repo.stored_packs()
    present = [r for r in records.values() if r.pack_id in stored]
    keep = [r for r in present if r.key_id == target and r.trusted]
    kept = {r.pack_id for r in keep}
    rewrite = sorted((r for r in present if r.pack_id not in kept), key=lambda r: not r.trusted)
    index_current = all(_key_of(repo.packs.index_key_id, n) == target for n in old_index)
    if not rewrite and index_current:
        doomed = {p: size for p, size in stored.items() if p not in records}
        result = rewrite_index(repo, [], [], doomed, index=False, events=ctx.events)
        summary.packs_deleted = result.packs_deleted
        return
    done: set[bytes] = {e.blob_id for r in keep for e in r.entries}
    failed: dict[bytes, bool] = {}  # blob id -> whether a trusted copy failed
    total_bytes = sum(r.size for r in rewrite)
    done_bytes = 0
    ctx.events.progress("re-encrypt", files_total=len(rewrite), bytes_total=total_bytes, final=True)
    with BlobCopier(repo) as copier:
        for number, record in enumerate(rewrite, 1):
            ctx.cancel.check()
            content = read_pack(repo, record.pack_id)
            if not content.intact:
                ctx.events.warn(
                    Code.PACK_DAMAGED,
                    f"pack {record.pack_id.hex()[:16]} is damaged; verifying each blob",
                    subject=pack_name(record.pack_id),
                )
            for location, sealed in content.copies(record):
                if location.blob_id in done:
                    continue
                try:
                    copier.copy(location, sealed, record.key_id)
                except IntegrityError:
                    failed[location.blob_id] = failed.get(location.blob_id, False) or record.trusted
                    continue
                done.add(location.blob_id)
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
        new_records = copier.finish()
        interim = copier.index_files  # superseded by the complete index below
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
    live = {r.pack_id for r in fresh_index}
    result = rewrite_index(
        repo,
        fresh_index,
        old_index + interim,
        {p: size for p, size in stored.items() if p not in live},
        per_file=PACKS_PER_INDEX_FILE,
        events=ctx.events,
    )
    summary.index_files_written = len(result.index_written)
    summary.index_files_deleted = result.index_deleted
    summary.packs_deleted = result.packs_deleted


def _key_of(read: Callable[[str], bytes], name: str) -> bytes:
    """The key id ``read`` finds sealing object ``name`` (b"" if it cannot be read)."""
    try:
        return read(name)
    except (IntegrityError, BackendError):
        return b""


def _rewrite_snapshots(
    repo: Repository, target: bytes, summary: ReencryptSummary, ctx: OperationContext
) -> None:
    sealer = repo.keys.sealer_for(target)
    snapshots = repo.snapshots
    for snapshot_id in snapshots.ids():
        ctx.cancel.check()
        if _key_of(snapshots.key_id_of, snapshot_id) == target:
            continue
        plaintext, key = snapshots.load_bytes(snapshot_id)
        # A session-key snapshot must not become a full-key one (design D9).
        plaintext = keep_provenance(repo.keys.keyring, plaintext, key)
        if snapshots.store_bytes(plaintext, sealer, overwrite=True) != snapshot_id:
            snapshots.delete(snapshot_id)
        summary.snapshots_rewritten += 1
