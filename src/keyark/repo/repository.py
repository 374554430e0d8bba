"""Repository: create and open a repository with a full key; a facade over its stores.

This is the public low-level API. It knows the format; it does not know about
files on disk (the archiver and restorer do). Each job has its store:

- ``repo.keys`` (:class:`~keyark.repo.keys.KeyStore`): keyring, root key, slots,
  sealers, the config and keyring objects and their copies;
- ``repo.packs`` (:class:`~keyark.repo.pack_store.PackStore`): packs and index
  files in storage;
- ``repo.blobs`` (:class:`~keyark.repo.blob_store.BlobStore`): the master index,
  the packer and verified blob reads and writes;
- ``repo.snapshots`` (:class:`~keyark.repo.snapshot_store.SnapshotStore`);
- ``repo.locks`` (:class:`~keyark.repo.lock_store.LockStore`).

A write-only agent opens an :class:`~keyark.repo.agent_session.AgentRepository`
instead, which has the write path only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from keyark.backends.base import Backend, object_exists
from keyark.crypto import slots
from keyark.crypto.envelope import SymmetricKey
from keyark.crypto.keyring import Keyring
from keyark.errors import (
    Hint,
    NotFoundError,
    RepositoryExistsError,
    RepositoryNotFoundError,
    UsageError,
)
from keyark.events import Events
from keyark.repo import key_store, state_copies
from keyark.repo.blob_store import BlobStore
from keyark.repo.config import CONFIG_NAME, DEFAULT_PACK_SIZE, BlobHasher, RepoConfig
from keyark.repo.handle import RepositoryHandle
from keyark.repo.inventory import InventorySidecars
from keyark.repo.keys import SESSION_PREFIX, KeyStore, session_object_name
from keyark.repo.pack import DATA
from keyark.repo.pack_store import PackStore
from keyark.repo.snapshot_store import SnapshotStore
from keyark.repo.temporaries import (
    STALE_AFTER_SECONDS,
    TemporaryRemoval,
    TemporaryReport,
    remove_stale_temporaries,
    scan_temporaries,
)
from keyark.repo.trust_state import TrustState

SLOT_PREFIX = key_store.SLOT_PREFIX


class Repository(RepositoryHandle[BlobStore, SnapshotStore]):
    """A repository unlocked with a full key: the stores, and what spans them."""

    def __init__(
        self,
        backend: Backend,
        config: RepoConfig,
        keyring: Keyring,
        root_key: SymmetricKey | None = None,
        slot: slots.KeySlot | None = None,
    ) -> None:
        super().__init__(backend, config, keyring.id_key)
        self.keys = KeyStore(backend, keyring, root_key, slot)
        self.packs = PackStore(backend, self.keys.current_sealer)
        hasher = BlobHasher(keyring.id_key, config.profile)
        self.blobs = BlobStore(self.packs, self.locks, self.keys, hasher, config.pack_size)
        self.snapshots = SnapshotStore(backend, self.blobs, self.keys, config.repo_id)
        #: Inventories stored beside snapshots saved without one (``inventory build``).
        self.inventories = InventorySidecars(backend, self.keys)

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
        root = SymmetricKey(os.urandom(8), os.urandom(32))
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
        repo.keys.trust = trust
        return repo

    def save_config(self) -> None:
        """Re-sign ``self.config`` with the keyring's config signing key and replace it."""
        self.keys.require_root("change the repository config")
        keyring = self.keys.keyring
        self.keys.write_config(self.config.to_bytes(keyring.id_key, keyring.config_signing_key))

    # ----------------------------------------------------------------- the sealing key
    @property
    def sealing_key(self) -> bytes:
        """The id of the key that seals what this session writes (the current data key)."""
        return self.keys.keyring.current.key_id

    def refresh_keys(self) -> bool:
        """Re-read the keyring under the writer's lock (see :meth:`KeyStore.refresh`)."""
        return self.keys.refresh()

    def require_current_key(self, key_id: bytes) -> None:
        """Refuse to commit what ``key_id`` sealed unless it is still current."""
        self.keys.require_current(key_id)

    # ----------------------------------------------------------------- temporaries
    def scan_temporaries(self, stale_after_seconds: float = STALE_AFTER_SECONDS) -> TemporaryReport:
        """The temporary objects killed writes left (none on object stores)."""
        return scan_temporaries(self._backend, stale_after_seconds)

    def remove_stale_temporaries(
        self, stale_after_seconds: float = STALE_AFTER_SECONDS, *, events: Events | None = None
    ) -> TemporaryRemoval:
        """Delete stale temporary objects (under the exclusive lock only); failures warned."""
        return remove_stale_temporaries(
            self._backend, events or self.events, stale_after_seconds=stale_after_seconds
        )


def list_slots(backend: Backend) -> list[slots.KeySlot]:
    """Every well-formed key slot (malformed ones skipped; see ``key_store.scan_slots``)."""
    return key_store.scan_slots(backend)[0]


def _read_config(backend: Backend) -> bytes:
    try:
        return state_copies.read_config_bytes(backend)
    except NotFoundError:
        raise RepositoryNotFoundError(
            f"no repository at {backend.location()}", hint=Hint.INIT
        ) from None


__all__ = [
    "DATA",
    "SESSION_PREFIX",
    "SLOT_PREFIX",
    "Repository",
    "list_slots",
    "session_object_name",
]
