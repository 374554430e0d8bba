"""Transitional delegations: the repository API as it was before the stores.

Every name here forwards to the store that owns it now (``repo.blobs``,
``repo.snapshots``, ``repo.keys``, ``repo.locks``, ``repo.packs``); callers are
being converted to the stores (see ``/tmp/issue10/REPO_API.md``), after which
these mixins are dropped. Nothing new may call them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from keyark.compress import CompressionSpec
from keyark.crypto import slots
from keyark.crypto.envelope import ObjectKind, Sealer, SymmetricKey
from keyark.crypto.keyring import Keyring
from keyark.repo.blob_store import BlobStore
from keyark.repo.blob_writer import BlobWriter
from keyark.repo.config import BlobHasher
from keyark.repo.index import BlobLocation, MasterIndex, PackRecord
from keyark.repo.keys import KeyStore
from keyark.repo.lock_store import LockStore
from keyark.repo.locks import RepositoryLock
from keyark.repo.pack import PackEntry
from keyark.repo.packer import Packer
from keyark.repo.snapshot import Snapshot
from keyark.repo.snapshot_store import SnapshotStore, SnapshotWriter
from keyark.repo.tree import Node
from keyark.repo.trust_state import TrustState


class WriteFacade:
    """Old names of the write path (both repository types)."""

    blobs: BlobWriter
    snapshots: SnapshotWriter
    locks: LockStore

    @property
    def index(self) -> MasterIndex:  # facade: delegates to blobs
        return self.blobs.index

    @property
    def hasher(self) -> BlobHasher:  # facade: delegates to blobs
        return self.blobs.hasher

    @property
    def pack_listeners(self) -> list[Callable[[PackRecord], None]]:  # facade: delegates to blobs
        return self.blobs.pack_listeners

    @property
    def held_locks(self) -> list[RepositoryLock]:  # facade: delegates to locks
        return self.locks.held

    def packer(self) -> Packer:  # facade: delegates to blobs
        return self.blobs.packer()

    def set_compression(self, spec: CompressionSpec) -> None:  # facade: delegates to blobs
        self.blobs.set_compression(spec)

    def has_blob(self, blob_id: bytes) -> bool:  # facade: delegates to blobs
        return self.blobs.has_blob(blob_id)

    def save_blob(self, kind: int, data: bytes | memoryview) -> tuple[bytes, int]:  # facade
        return self.blobs.save_blob(kind, data)  # facade: delegates to blobs

    def save_tree(self, nodes: list[Node]) -> tuple[bytes, int]:  # facade: delegates to blobs
        return self.blobs.save_tree(nodes)

    def flush(self) -> None:  # facade: delegates to blobs
        self.blobs.flush()

    def discard_failed_writes(self) -> None:  # facade: delegates to blobs
        self.blobs.discard_failed_writes()

    def ensure_writable(self, records: list[PackRecord], consequence: str) -> None:  # facade
        self.blobs.ensure_writable(records, consequence)  # facade: delegates to blobs

    def ensure_packs_durable(self, consequence: str) -> None:  # facade: delegates to blobs
        self.blobs.ensure_packs_durable(consequence)

    def current_sealer(self) -> Sealer:  # facade: delegates to blobs
        return self.blobs.current_sealer()

    def iter_pack_names(self) -> Iterator[tuple[str, int]]:  # facade: delegates to blobs.packs
        return self.blobs.packs.names()

    def snapshot_id_of(self, plaintext: bytes) -> str:  # facade: delegates to snapshots
        return self.snapshots.snapshot_id_of(plaintext)

    def store_snapshot_bytes(
        self, plaintext: bytes, sealer: Sealer | None = None, *, overwrite: bool = False
    ) -> str:  # facade: delegates to snapshots
        return self.snapshots.store_bytes(plaintext, sealer, overwrite=overwrite)

    def save_snapshot(self, snapshot: Snapshot) -> str:  # facade: delegates to snapshots
        return self.snapshots.save(snapshot)


class RepositoryFacade(WriteFacade):
    """Old names of the full-key repository (reads, keys, snapshots)."""

    blobs: BlobStore
    snapshots: SnapshotStore
    keys: KeyStore

    #: A full-key repository is never an agent's (the agent type is AgentRepository).
    agent: None = None  # facade: use isinstance(repo, AgentRepository)

    @property
    def keyring(self) -> Keyring:  # facade: delegates to keys
        return self.keys.keyring

    @keyring.setter
    def keyring(self, keyring: Keyring) -> None:  # facade: use keys.adopt
        self.keys.keyring = keyring

    @property
    def root_key(self) -> SymmetricKey | None:  # facade: delegates to keys
        return self.keys.root_key

    @root_key.setter
    def root_key(self, root: SymmetricKey | None) -> None:  # facade: use keys.adopt
        self.keys.root_key = root

    @property
    def slot(self) -> slots.KeySlot | None:  # facade: delegates to keys
        return self.keys.slot

    @slot.setter
    def slot(self, slot: slots.KeySlot | None) -> None:  # facade: use keys.use_slot
        self.keys.slot = slot

    @property
    def trust(self) -> TrustState | None:  # facade: delegates to keys
        return self.keys.trust

    @trust.setter
    def trust(self, trust: TrustState | None) -> None:  # facade: delegates to keys
        self.keys.trust = trust

    @property
    def index_problems(self) -> list[str]:  # facade: delegates to blobs
        return self.blobs.index_problems

    # ----------------------------------------------------------------- blobs
    def load_index(self, *, reload: bool = False) -> None:  # facade: delegates to blobs
        self.blobs.load_index(reload=reload)

    def read_index_file(self, name: str) -> list[PackRecord]:  # facade: delegates to blobs
        return self.blobs.read_index_file(name)

    def add_record(self, record: PackRecord) -> None:  # facade: delegates to blobs
        self.blobs.add_record(record)

    def decode_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None = None
    ) -> bytes:  # facade: delegates to blobs
        return self.blobs.decode_blob(location, sealed, key_id)

    def reseal_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None = None
    ) -> bytes:  # facade: delegates to blobs
        return self.blobs.reseal_blob(location, sealed, key_id)

    def read_copy(self, location: BlobLocation) -> bytes:  # facade: delegates to blobs
        return self.blobs.read_copy(location)

    def load_blob(self, blob_id: bytes) -> bytes:  # facade: delegates to blobs
        return self.blobs.load_blob(blob_id)

    def decode_or_fetch(
        self, location: BlobLocation, sealed: bytes | memoryview
    ) -> bytes:  # facade: delegates to blobs
        return self.blobs.decode_or_fetch(location, sealed)

    def load_tree(self, tree_id: bytes) -> list[Node]:  # facade: delegates to blobs
        return self.blobs.load_tree(tree_id)

    def read_pack_header(
        self, pack_id: bytes, size: int | None = None
    ) -> list[PackEntry]:  # facade: delegates to blobs
        return self.blobs.read_pack_header(pack_id, size)

    def pack_header(
        self, pack_id: bytes, size: int | None = None
    ) -> tuple[list[PackEntry], bytes]:  # facade: delegates to blobs
        return self.blobs.pack_header(pack_id, size)

    # ----------------------------------------------------------------- keys
    def sealer_for(self, key_id: bytes) -> Sealer:  # facade: delegates to keys
        return self.keys.sealer_for(key_id)

    def forget_sealers(self) -> None:  # facade: delegates to keys
        self.keys.forget_sealers()

    def open_object(
        self, kind: ObjectKind, name: bytes, envelope: bytes | memoryview
    ) -> bytes:  # facade: delegates to keys
        return self.keys.open_object(kind, name, envelope)

    def save_keyring(self) -> None:  # facade: delegates to keys
        self.keys.save_keyring()

    def add_slot(self, slot: slots.KeySlot) -> None:  # facade: delegates to keys
        self.keys.add_slot(slot)

    # ----------------------------------------------------------------- snapshots
    def snapshot_ids(self) -> list[str]:  # facade: delegates to snapshots
        return self.snapshots.ids()

    def load_snapshot_bytes(self, snapshot_id: str) -> tuple[bytes, bytes]:  # facade
        return self.snapshots.load_bytes(snapshot_id)  # facade: delegates to snapshots

    def load_snapshot(self, snapshot_id: str) -> Snapshot:  # facade: delegates to snapshots
        return self.snapshots.load(snapshot_id)

    def load_snapshots(self, ids: Iterable[str] | None = None) -> list[Snapshot]:  # facade
        wanted = self.snapshots.ids() if ids is None else list(ids)  # facade: snapshots
        return [self.snapshots.load(snapshot_id) for snapshot_id in wanted]

    def delete_snapshot(self, snapshot_id: str) -> None:  # facade: delegates to snapshots
        self.snapshots.delete(snapshot_id)


__all__ = ["RepositoryFacade", "WriteFacade"]
