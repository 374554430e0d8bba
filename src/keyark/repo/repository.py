"""Repository: create and open, then load and save blobs, index and snapshots.

This is the public low-level API. It knows the format; it does not know about
files on disk (the archiver and restorer do).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from keyark.backends.base import Backend, object_exists
from keyark.cancel import NEVER, CancelToken
from keyark.compress import CompressionSpec, Compressor
from keyark.crypto import slots
from keyark.crypto.agent_registry import recipient_of
from keyark.crypto.envelope import ObjectKind, Sealer, SymmetricKey, envelope_key_id
from keyark.crypto.keyring import Keyring
from keyark.crypto.recipients import unwrap
from keyark.errors import (
    IntegrityError,
    NotFoundError,
    RepositoryExistsError,
    RepositoryNotFoundError,
    UsageError,
)
from keyark.events import Events
from keyark.repo import key_store, state_copies
from keyark.repo.config import CONFIG_NAME, DEFAULT_PACK_SIZE, BlobHasher, RepoConfig
from keyark.repo.index import MasterIndex, PackRecord
from keyark.repo.locks import RepositoryLock, lock_sealer
from keyark.repo.pack import (
    DATA,
    TRAILER_SIZE,
    TREE,
    PackEntry,
    header_span,
    pack_name,
    parse_header,
)
from keyark.repo.packer import AGENT_PACKS_PER_FILE, INDEX_PACKS_PER_FILE, Packer
from keyark.repo.snapshot_store import SnapshotStore
from keyark.repo.tree import Node, decode_tree, encode_tree
from keyark.repo.trust_state import TrustState

if TYPE_CHECKING:
    from keyark.repo.agent_session import AgentSession

SLOT_PREFIX = "keys/"
SESSION_PREFIX = "keys/sessions/"


def session_object_name(key_id: bytes) -> str:
    return f"{SESSION_PREFIX}{key_id.hex()}"


class Repository(SnapshotStore):
    """An unlocked repository (index and blob I/O: :class:`BlobStore`; snapshots:
    :class:`SnapshotStore`)."""

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
        #: Called with every pack this session stored, once an index file lists it (agents
        #: record them in their dedup cache: never a pack no index lists).
        self.pack_listeners: list[Callable[[PackRecord], None]] = []
        self.held_locks = []
        #: What this client remembers about the repository (None: nothing remembered).
        self.trust: TrustState | None = None
        #: Index files the last :meth:`load_index` skipped (unreadable or malformed).
        self.index_problems: list[str] = []
        #: The running operation's events and cancel token (bound by ``keyark.ops``):
        #: lock waits and warnings of the repository layer go there.
        self.events = Events()
        self.cancel: CancelToken = NEVER

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
        public: Mapping[str, object] | None = None,
    ) -> Repository:
        """Create a new repository with one passphrase slot; refuse if one exists."""
        if object_exists(backend, CONFIG_NAME):
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
        # Each copy (``*.bak``) is written before its primary (see repo.state_copies).
        state_copies.write_keyring(backend, keyring.seal(root), overwrite=False)
        backend.put(slot.name, slot.to_bytes())
        signed = config.to_bytes(keyring.id_key, keyring.config_signing_key)
        state_copies.write_config(backend, signed, overwrite=False)
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
        if unlocked.config_bytes and unlocked.config_bytes != config_bytes:
            state_copies.check_same_settings(config_bytes, unlocked.config_bytes)
            config_bytes = unlocked.config_bytes
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
        state_copies.write_config(self.backend, data)  # config.bak, then config

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
        self.discard_failed_writes()  # a new operation: never dedup against failed uploads
        sealer = lock_sealer(self.keyring.id_key)
        held = RepositoryLock(self.backend, sealer, operation, exclusive).acquire(retry)
        # Checked before each index file and snapshot (released ones are dropped).
        self.held_locks = [lock for lock in self.held_locks if lock.held] + [held]
        return held

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
                trusted=self.agent is None,
                on_indexed=self._packs_indexed,
                before_index=self._before_index,
                packs_per_index=AGENT_PACKS_PER_FILE if self.agent else INDEX_PACKS_PER_FILE,
            )
        return self._packer

    def _before_index(self, records: list[PackRecord]) -> None:
        self.ensure_writable(records, "nothing was saved")

    def _packs_indexed(self, records: list[PackRecord]) -> None:
        for record in records:
            for listener in self.pack_listeners:
                listener(record)

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

    def iter_pack_names(self) -> Iterator[tuple[str, int]]:
        for info in self.backend.list("data/"):
            yield info.name, info.size

    @property
    def repo_id(self) -> str:
        return self.config.repo_id


def list_slots(backend: Backend) -> list[slots.KeySlot]:
    """Every well-formed key slot (malformed ones skipped; see ``key_store.scan_slots``)."""
    return key_store.scan_slots(backend)[0]


def _read_config(backend: Backend) -> bytes:
    try:
        return state_copies.read_config_bytes(backend)
    except NotFoundError:
        raise RepositoryNotFoundError(
            f"no repository at {backend.location()}; create one with 'keyark init'"
        ) from None


def _random_key_pair() -> tuple[bytes, bytes]:
    return os.urandom(8), os.urandom(32)


__all__ = ["DATA", "Repository", "list_slots"]
