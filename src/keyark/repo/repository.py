"""Repository: create and open, then load and save blobs, index and snapshots.

This is the public low-level API. It knows the format; it does not know about
files on disk (the archiver and restorer do).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from keyark.backends.base import Backend
from keyark.compress import CompressionSpec, Compressor, decompress
from keyark.crypto import slots
from keyark.crypto.agent_registry import recipient_of
from keyark.crypto.agents import wrap_signed
from keyark.crypto.envelope import ObjectKind, Sealer, SymmetricKey, envelope_key_id
from keyark.crypto.keyring import KEYRING_NAME, Keyring
from keyark.crypto.recipients import unwrap
from keyark.errors import (
    BackendError,
    IntegrityError,
    NotFoundError,
    RepositoryExistsError,
    RepositoryNotFoundError,
    UsageError,
)
from keyark.repo import key_store
from keyark.repo.config import CONFIG_NAME, DEFAULT_PACK_SIZE, BlobHasher, RepoConfig
from keyark.repo.index import BlobLocation, MasterIndex, PackRecord, decode_index
from keyark.repo.locks import RepositoryLock, lock_sealer
from keyark.repo.pack import (
    BLOB_KINDS,
    DATA,
    TRAILER_SIZE,
    TREE,
    PackEntry,
    header_span,
    pack_name,
    parse_header,
)
from keyark.repo.packer import Packer
from keyark.repo.snapshot import SNAPSHOT_PREFIX, Snapshot
from keyark.repo.snapshot_trust import read_snapshot
from keyark.repo.tree import Node, decode_tree, encode_tree
from keyark.repo.trust_state import TrustState

if TYPE_CHECKING:
    from keyark.repo.agent_session import AgentSession

SLOT_PREFIX = "keys/"
SESSION_PREFIX = "keys/sessions/"


def session_object_name(key_id: bytes) -> str:
    return f"{SESSION_PREFIX}{key_id.hex()}"


class Repository:
    """An unlocked repository."""

    def __init__(
        self,
        backend: Backend,
        config: RepoConfig,
        keyring: Keyring,
        root_key: SymmetricKey | None = None,
        slot: slots.KeySlot | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.keyring = keyring
        self.root_key = root_key
        self.slot = slot
        self.index = MasterIndex()
        self.hasher = BlobHasher(keyring.id_key, config.profile)
        self.compressor = Compressor(CompressionSpec())
        self._sealers: dict[bytes, Sealer] = {}
        self._pending: set[bytes] = set()
        self._dedup_lock = threading.Lock()
        self._packer: Packer | None = None
        self._index_loaded = False
        self._sealer_lock = threading.Lock()
        #: Set when a write-only agent opened the repository (see repo.agent_session).
        self.agent: AgentSession | None = None
        #: Called with every pack this session uploads (agents record them in their cache).
        self.pack_listeners: list[Callable[[PackRecord], None]] = []
        #: What this client remembers about the repository (None: nothing remembered).
        self.trust: TrustState | None = None
        #: Index files the last :meth:`load_index` skipped (unreadable or malformed).
        self.index_problems: list[str] = []

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def init(
        cls,
        backend: Backend,
        passphrase: bytes,
        *,
        kdf: str = "argon2id",
        pack_size: int = DEFAULT_PACK_SIZE,
        profile: str = "default",
        public: dict[str, object] | None = None,
    ) -> Repository:
        """Create a new repository with one passphrase slot; refuse if one exists."""
        if _exists(backend):
            raise RepositoryExistsError(
                f"a repository already exists at {backend.location()}; nothing was changed"
            )
        if any(True for _ in backend.list("")):
            raise RepositoryExistsError(
                f"{backend.location()} is not empty; refusing to create a repository there"
            )
        if pack_size < 1024 * 1024 or pack_size > 128 * 1024 * 1024:
            raise UsageError("pack size must be between 1 MiB and 128 MiB")
        root = SymmetricKey(*_random_key_pair())
        keyring = Keyring.create()
        config = RepoConfig.new(profile=profile, pack_size=pack_size)
        config.public.update(public or {})
        slot = slots.passphrase_slot(root, passphrase, kdf)
        # Order: keyring and slot first, config last: config marks a complete repository.
        backend.put(KEYRING_NAME, keyring.seal(root))
        backend.put(slot.name, slot.to_bytes())
        backend.put(CONFIG_NAME, config.to_bytes(keyring.id_key, keyring.config_signing_key))
        return cls(backend, config, keyring, root, slot)

    @classmethod
    def open(
        cls,
        backend: Backend,
        credentials: slots.Credentials,
        *,
        trust: TrustState | None = None,
        config_bytes: bytes | None = None,
    ) -> Repository:
        """Unlock with whatever key material the credentials hold.

        The config's signature is verified with the keyring's config public key
        (a :class:`FormatError` if it fails). ``config_bytes`` are the config bytes
        the backend was opened with (so backend settings come from the bytes that
        are authenticated); ``trust`` is what this client remembers: an older
        keyring or a config that lost its recorded Object Lock is refused with a
        :class:`TrustError`, and the newer state is saved.
        """
        if config_bytes is None:
            config_bytes = _read_config(backend)
        RepoConfig.peek(config_bytes)
        unlocked = key_store.unlock(backend, credentials, config_bytes)
        keyring, root, slot = unlocked.keyring, unlocked.root, unlocked.slot
        config = RepoConfig.from_bytes(config_bytes, keyring.id_key, keyring.config_public_key)
        if trust is not None:
            trust.check_keyring(keyring.version)
            trust.check_object_lock(config.object_lock)
            trust.save()
        repo = cls(backend, config, keyring, root, slot)
        repo.trust = trust
        return repo

    def save_config(self) -> None:
        """Re-sign ``self.config`` with the keyring's config signing key and replace it."""
        if self.root_key is None or self.agent is not None:
            raise UsageError("this key cannot change the repository config")
        data = self.config.to_bytes(self.keyring.id_key, self.keyring.config_signing_key)
        self.backend.put(CONFIG_NAME, data, overwrite=True)

    def close(self) -> None:
        if self._packer is not None:
            self._packer.close()
            self._packer = None
        self.backend.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def lock(
        self, operation: str, *, exclusive: bool = False, retry: float = 0.0
    ) -> RepositoryLock:
        """Take a shared or exclusive lock (a context manager)."""
        sealer = lock_sealer(self.keyring.id_key)
        return RepositoryLock(self.backend, sealer, operation, exclusive).acquire(retry)

    def save_keyring(self) -> None:
        """Replace the keyring object atomically (after rotation or agent changes)."""
        if self.root_key is None:
            raise UsageError("this key cannot change the keyring")
        key_store.save_keyring(self.backend, self.keyring, self.root_key)  # version + 1
        if self.trust is not None:  # remember it: a replay of the older one is refused
            self.trust.check_keyring(self.keyring.version)
            self.trust.save()

    def add_slot(self, slot: slots.KeySlot) -> None:
        self.backend.put(slot.name, slot.to_bytes())

    # ----------------------------------------------------------------- keys
    def sealer_for(self, key_id: bytes) -> Sealer:
        sealer = self._sealers.get(key_id)
        if sealer is not None:
            return sealer
        data_key = self.keyring.data_keys.get(key_id)
        if data_key is not None:
            sealer = Sealer(data_key.key)
        else:
            with self._sealer_lock:
                sealer = self._sealers.get(key_id) or self._session_sealer(key_id)
        self._sealers[key_id] = sealer
        return sealer

    def _session_sealer(self, key_id: bytes) -> Sealer:
        """A write-only agent's session key, unwrapped with the recipient private key."""
        recipient = recipient_of(self.keyring)
        if self.agent is not None:
            raise UsageError(
                "this credential can only write: it cannot decrypt anything in the repository"
            )
        if recipient is None or recipient.private is None:
            raise IntegrityError(
                f"object is encrypted with key {key_id.hex()}, which this keyring lacks"
            )
        try:
            wrapped = self.backend.get(session_object_name(key_id))
        except NotFoundError:
            raise IntegrityError(
                f"object is encrypted with key {key_id.hex()}, which this keyring lacks "
                "and no session key object provides"
            ) from None
        return Sealer(SymmetricKey(key_id, unwrap(recipient, key_id, wrapped)))

    def forget_sealers(self) -> None:
        """Drop cached sealers (after the keyring changed)."""
        with self._sealer_lock:
            self._sealers = {}

    def current_sealer(self) -> Sealer:
        return self.sealer_for(self.keyring.current.key_id)

    def open_object(self, kind: ObjectKind, name: bytes, envelope: bytes | memoryview) -> bytes:
        """Decrypt any sealed object with the data key it names."""
        return self.sealer_for(envelope_key_id(envelope)).open(kind, name, envelope)

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
    def set_compression(self, spec: CompressionSpec) -> None:
        self.compressor = Compressor(spec)

    def packer(self) -> Packer:
        if self._packer is None:
            self._packer = Packer(
                self.backend,
                self.index,
                self.current_sealer,
                self.config.pack_size,
                on_uploaded=self._pack_uploaded,
                trusted=self.agent is None,
            )
        return self._packer

    def _pack_uploaded(self, record: PackRecord) -> None:
        for listener in self.pack_listeners:
            listener(record)

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
        """Make every saved blob durable and indexed."""
        if self._packer is not None:
            self._packer.flush()
        with self._dedup_lock:
            self._pending = {b for b in self._pending if not self.index.has_trusted(b)}

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

    # ----------------------------------------------------------------- trees
    def save_tree(self, nodes: list[Node]) -> tuple[bytes, int]:
        return self.save_blob(TREE, encode_tree(nodes))

    def load_tree(self, tree_id: bytes) -> list[Node]:
        return decode_tree(self.load_blob(tree_id), tree_id)

    # ----------------------------------------------------------------- packs
    def read_pack_header(self, pack_id: bytes, size: int | None = None) -> list[PackEntry]:
        """Read and decrypt the header at the end of a pack."""
        return self.pack_header(pack_id, size)[0]

    def pack_header(self, pack_id: bytes, size: int | None = None) -> tuple[list[PackEntry], bytes]:
        """Read and decrypt a pack's header: (entries, id of the key that sealed it)."""
        name = pack_name(pack_id)
        if size is None:
            size = self.backend.stat(name).size
        tail = self.backend.get(name, max(0, size - 4096), None)
        trailer = tail[-TRAILER_SIZE:] if len(tail) >= TRAILER_SIZE else b""
        offset, length = header_span(size, trailer)
        start_in_tail = offset - max(0, size - 4096)
        if start_in_tail >= 0:
            sealed = tail[start_in_tail : start_in_tail + length]
        else:
            sealed = self.backend.get(name, offset, length)
        if len(sealed) != length:
            raise IntegrityError(f"pack {pack_id.hex()[:16]} is truncated")
        key_id = envelope_key_id(sealed)
        return parse_header(self.sealer_for(key_id), sealed), key_id

    # ----------------------------------------------------------------- snapshots
    def snapshot_id_of(self, plaintext: bytes) -> str:
        """A snapshot's id: a keyed hash of its plaintext, stable under re-encryption."""
        return self.hasher(b"keyark snapshot\x00" + plaintext).hex()

    def store_snapshot_bytes(
        self, plaintext: bytes, sealer: Sealer | None = None, *, overwrite: bool = False
    ) -> str:
        """Seal and store a snapshot document; return its id."""
        sealer = sealer or self.current_sealer()
        snapshot_id = self.snapshot_id_of(plaintext)
        sealed = sealer.seal(ObjectKind.SNAPSHOT, snapshot_id.encode(), plaintext)
        self.backend.put(SNAPSHOT_PREFIX + snapshot_id, sealed, overwrite=overwrite)
        return snapshot_id

    def save_snapshot(self, snapshot: Snapshot) -> str:
        sealer = self.current_sealer()
        plaintext = snapshot.to_bytes()
        if self.agent is not None:
            credential = self.agent.credential
            signature = credential.sign(self.repo_id, plaintext)
            plaintext = wrap_signed(credential.name, plaintext, signature)
        snapshot.id = self.store_snapshot_bytes(plaintext, sealer)
        snapshot.key_id = sealer.key.key_id.hex()
        return snapshot.id

    def snapshot_ids(self) -> list[str]:
        return [info.name[len(SNAPSHOT_PREFIX) :] for info in self.backend.list(SNAPSHOT_PREFIX)]

    def load_snapshot_bytes(self, snapshot_id: str) -> tuple[bytes, bytes]:
        """Decrypt and verify a snapshot document: (plaintext, key id)."""
        data = self.backend.get(SNAPSHOT_PREFIX + snapshot_id)
        key_id = envelope_key_id(data)
        raw = self.sealer_for(key_id).open(ObjectKind.SNAPSHOT, snapshot_id.encode(), data)
        if not hmac.compare_digest(self.snapshot_id_of(raw), snapshot_id):
            raise IntegrityError(f"snapshot {snapshot_id[:8]} does not match its name (corrupt)")
        return raw, key_id

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        """Load, verify and parse one snapshot, recording its provenance (design D9).

        ``extra["agent"]`` names the agent that wrote it and ``extra["signature"]``
        holds the signature check (see :mod:`keyark.repo.snapshot_trust`); a malformed
        snapshot is a :class:`FormatError` naming it.
        """
        raw, key_id = self.load_snapshot_bytes(snapshot_id)
        return read_snapshot(self.keyring, self.repo_id, snapshot_id, raw, key_id)

    def load_snapshots(self, ids: Iterable[str] | None = None) -> list[Snapshot]:
        """Load snapshots in parallel (all when ``ids`` is None)."""
        wanted = self.snapshot_ids() if ids is None else list(ids)
        with ThreadPoolExecutor(self.backend.capabilities().connections) as pool:
            return list(pool.map(self.load_snapshot, wanted))

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.backend.delete(SNAPSHOT_PREFIX + snapshot_id)

    def iter_pack_names(self) -> Iterator[tuple[str, int]]:
        for info in self.backend.list("data/"):
            yield info.name, info.size

    @property
    def repo_id(self) -> str:
        return self.config.repo_id


def list_slots(backend: Backend) -> list[slots.KeySlot]:
    """Every well-formed key slot (malformed ones skipped; see ``key_store.scan_slots``)."""
    return key_store.scan_slots(backend)[0]


def _exists(backend: Backend) -> bool:
    try:
        backend.stat(CONFIG_NAME)
    except NotFoundError:
        return False
    return True


def _read_config(backend: Backend) -> bytes:
    try:
        return backend.get(CONFIG_NAME)
    except NotFoundError:
        raise RepositoryNotFoundError(
            f"no repository at {backend.location()}; create one with 'keyark init'"
        ) from None


def _random_key_pair() -> tuple[bytes, bytes]:
    return os.urandom(8), os.urandom(32)


__all__ = ["DATA", "Repository", "list_slots"]
