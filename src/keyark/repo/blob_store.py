"""Index loading and verified blob I/O, mixed into :class:`~keyark.repo.repository.Repository`.

Trust (design D7): index records are trusted only when sealed by a full-key
writer for a pack sealed with a keyring data key; dedup uses trusted copies only;
every read verifies, and a copy that fails is skipped for the next candidate.
Blobs are stored bare in packs (design D8): the envelope prefix is rebuilt from
the pack's key id.

Writes are guarded (issue 9): before each index file and each snapshot,
:meth:`BlobStore.ensure_writable` checks that every lock this session holds is still
valid (a writer paused past its lock's expiry may have had its packs pruned) and that
the packs this session stored since the last check still exist.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from keyark.backends.base import Backend
from keyark.compress import Compressor, decompress
from keyark.crypto.envelope import ObjectKind, Sealer, envelope_key_id
from keyark.crypto.keyring import Keyring
from keyark.errors import BackendError, IntegrityError, NotFoundError
from keyark.repo.config import BlobHasher
from keyark.repo.index import BlobLocation, MasterIndex, PackRecord, decode_index
from keyark.repo.pack import BLOB_KINDS, pack_name
from keyark.repo.packer import Packer

if TYPE_CHECKING:
    from keyark.repo.agent_session import AgentSession
    from keyark.repo.locks import RepositoryLock


class BlobStore:
    """The master index and blob reads/writes of a repository session."""

    backend: Backend
    keyring: Keyring
    index: MasterIndex
    hasher: BlobHasher
    compressor: Compressor
    agent: AgentSession | None
    index_problems: list[str]
    _pending: set[bytes]
    _dedup_lock: threading.Lock
    _packer: Packer | None
    _index_loaded: bool
    #: Locks this session took (see :meth:`ensure_writable`); released ones are skipped.
    held_locks: list[RepositoryLock]

    def sealer_for(self, key_id: bytes) -> Sealer:  # pragma: no cover - Repository's
        raise NotImplementedError

    def current_sealer(self) -> Sealer:  # pragma: no cover - Repository's
        raise NotImplementedError

    def packer(self) -> Packer:  # pragma: no cover - Repository's
        raise NotImplementedError

    def open_object(
        self, kind: ObjectKind, name: bytes, envelope: bytes | memoryview
    ) -> bytes:  # pragma: no cover - Repository's
        raise NotImplementedError

    # ----------------------------------------------------------------- index
    def load_index(self, *, reload: bool = False) -> None:
        """Read every index file (in parallel) into the master index."""
        if self.agent is not None:
            return  # an agent cannot read the index; it dedups against its own cache
        if self._index_loaded and not reload:
            return
        if reload:
            self.index.clear()  # in place: the packer holds this object
        names = [info.name for info in self.backend.list("index/")]
        self.index_problems = []
        with ThreadPoolExecutor(self.backend.capabilities().connections) as pool:
            for records in pool.map(self._index_file_or_none, names):
                for record in records or ():
                    self.add_record(record)
        self._index_loaded = True

    def _index_file_or_none(self, name: str) -> list[PackRecord] | None:
        """One index file's records; a damaged or hostile one is skipped and reported."""
        try:
            return self.read_index_file(name)
        except IntegrityError as error:
            self.index_problems.append(f"{error}; skipped (run 'keyark check')")
            return None

    def add_record(self, record: PackRecord) -> None:
        """Add one pack record (with its trust) to the master index."""
        self.index.add_pack(
            record.pack_id, record.size, record.entries, record.key_id, record.trusted
        )

    def read_index_file(self, name: str) -> list[PackRecord]:
        """Read, verify and parse one index file; set each record's trust (design D7).

        A record is trusted only when the index file is sealed with a keyring data
        key, its writer marked it trusted, and the pack's key is a keyring data key;
        an index file sealed with an agent session key yields only untrusted records.
        """
        data = self.backend.get(name)
        if not hmac.compare_digest(
            hashlib.sha256(data).hexdigest(), name.rsplit("/", maxsplit=1)[-1]
        ):
            raise IntegrityError(f"index file {name} does not match its name (corrupt)")
        try:
            key_id = envelope_key_id(data)
            records, _superseded = decode_index(self.open_object(ObjectKind.INDEX, b"", data))
        except IntegrityError as error:
            raise IntegrityError(f"index file {name}: {error}") from None
        sealed_by_keyring = self.agent is None and key_id in self.keyring.data_keys
        for record in records:
            record.trusted = (
                record.trusted and sealed_by_keyring and record.key_id in self.keyring.data_keys
            )
        return records

    # ----------------------------------------------------------------- blobs
    def has_blob(self, blob_id: bytes) -> bool:
        """Whether a trusted copy exists (or is being written by this session).

        Untrusted (agent-written) copies never satisfy dedup (design D7).
        """
        return self.index.has_trusted(blob_id) or blob_id in self._pending

    def save_blob(self, kind: int, data: bytes | memoryview) -> tuple[bytes, int]:
        """Store a blob unless a trusted copy is known; return (blob id, bytes added)."""
        blob_id = self.hasher(data)
        with self._dedup_lock:
            if self.index.has_trusted(blob_id) or blob_id in self._pending:
                return blob_id, 0
            self._pending.add(blob_id)
        algorithm, payload = self.compressor.compress(data)
        sealed = self.current_sealer().seal_bare(BLOB_KINDS[kind], blob_id, payload)
        self.packer().add(kind, blob_id, sealed, len(data), int(algorithm))
        return blob_id, len(sealed)

    def flush(self) -> None:
        """Make every saved blob durable and indexed.

        If anything fails (an upload, an index write, the write guard), the error is
        raised and this session forgets every blob it had not indexed and starts a
        fresh packer: no later save in this session dedups against a blob whose pack
        never became durable and indexed.
        """
        if self._packer is not None:
            try:
                self._packer.flush()
            except BaseException:
                self._abandon_writes()
                raise
        with self._dedup_lock:
            self._pending = {b for b in self._pending if not self.index.has_trusted(b)}

    def discard_failed_writes(self) -> None:
        """Start afresh if an earlier write of this session failed (a new operation begins).

        The failed packer stays in place until then, so the operation it failed in
        cannot save a snapshot (every later add and flush raises).
        """
        if self._packer is not None and self._packer.failed:
            self._abandon_writes()

    def _abandon_writes(self) -> None:
        """Forget unindexed blobs and the failed packer (after a failed write)."""
        packer, self._packer = self._packer, None
        with self._dedup_lock:
            self._pending = set()
        if packer is not None:
            packer.close()

    def ensure_writable(self, records: list[PackRecord], consequence: str) -> None:
        """Raise unless this session may still write what refers to ``records``.

        Every lock this session holds must still be valid (a :class:`LockError` if it
        was lost, e.g. the process was paused past its expiry) and every pack in
        ``records`` must still be stored with its size (an :class:`IntegrityError`
        naming it otherwise). ``consequence`` says what was not written.
        """
        for lock in [lock for lock in self.held_locks if lock.held]:
            lock.ensure_valid(consequence)
        self.held_locks = [lock for lock in self.held_locks if lock.held]
        if not records:
            return
        workers = max(1, min(len(records), self.backend.capabilities().connections))
        with ThreadPoolExecutor(workers, thread_name_prefix="keyark-verify") as pool:
            stored = list(pool.map(self._pack_stored, records))
        missing = [r for r, ok in zip(records, stored, strict=True) if not ok]
        if missing:
            raise IntegrityError(
                f"{len(missing)} pack(s) this session stored are gone or changed "
                f"(pack {missing[0].pack_id.hex()[:16]}), deleted while it was paused or "
                f"by another command; {consequence}; run it again"
            )

    def _pack_stored(self, record: PackRecord) -> bool:
        try:
            return self.backend.stat(pack_name(record.pack_id)).size == record.size
        except NotFoundError:
            return False

    def ensure_packs_durable(self, consequence: str) -> None:
        """Before a snapshot: the write guard over every pack stored since the last one."""
        records = self._packer.take_unverified() if self._packer is not None else []
        self.ensure_writable(records, consequence)

    def _open_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None
    ) -> tuple[bytes, bytes]:
        """(payload, plaintext) of one stored copy, verified against its id."""
        key = key_id or location.key_id or self.index.pack_key(location.pack_id)
        if not key:
            raise IntegrityError(f"pack {location.pack_id.hex()[:16]} has no recorded key id")
        payload = self.sealer_for(key).open_bare(
            BLOB_KINDS[location.kind], location.blob_id, sealed
        )
        data = decompress(location.compression, payload, location.raw_length)
        if not hmac.compare_digest(self.hasher(data), location.blob_id):
            raise IntegrityError(f"blob {location.blob_id.hex()[:16]} does not match its id")
        return payload, data

    def decode_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None = None
    ) -> bytes:
        """Decrypt, decompress and verify one copy read from its pack (stored bare).

        ``key_id`` is the pack's key (default: the location's, else the index's).
        Raises :class:`IntegrityError` if this copy is bad.
        """
        return self._open_blob(location, sealed, key_id)[1]

    def reseal_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None = None
    ) -> bytes:
        """Verify one stored copy and re-seal it (bare) under the current data key.

        This is adoption (design D7): prune's repacking and ``rotate --reencrypt``
        move blobs this way, so what they write is verified and trusted.
        """
        payload, _data = self._open_blob(location, sealed, key_id)
        return self.current_sealer().seal_bare(BLOB_KINDS[location.kind], location.blob_id, payload)

    def read_copy(self, location: BlobLocation) -> bytes:
        """Read and verify one stored copy of a blob."""
        sealed = self.backend.get(pack_name(location.pack_id), location.offset, location.length)
        if len(sealed) != location.length:
            raise IntegrityError(f"pack {location.pack_id.hex()[:16]} is truncated")
        return self.decode_blob(location, sealed)

    def load_blob(self, blob_id: bytes) -> bytes:
        """Load a blob from the first copy that verifies (trusted copies first).

        A planted or damaged copy is skipped; :class:`IntegrityError` names the blob
        only when no copy verifies.
        """
        candidates = self.index.candidates(blob_id)
        if not candidates:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} is not in the index")
        return self._first_good(blob_id, candidates)

    def decode_or_fetch(self, location: BlobLocation, sealed: bytes | memoryview) -> bytes:
        """Decode ``sealed`` (the copy at ``location``); if it is bad, load another copy."""
        try:
            return self.decode_blob(location, sealed)
        except IntegrityError as error:
            others = [
                c
                for c in self.index.candidates(location.blob_id)
                if (c.pack_id, c.offset) != (location.pack_id, location.offset)
            ]
            if not others:
                raise
            return self._first_good(location.blob_id, others, str(error))

    def _first_good(self, blob_id: bytes, candidates: list[BlobLocation], error: str = "") -> bytes:
        for location in candidates:
            try:
                return self.read_copy(location)
            except (IntegrityError, BackendError) as failure:
                error = str(failure)
        count = len(candidates)
        raise IntegrityError(
            f"blob {blob_id.hex()[:16]}: none of its {count} stored copies verifies "
            f"(last: {error}); run 'keyark check --read-data'"
        )
