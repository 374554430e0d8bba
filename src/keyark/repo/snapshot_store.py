"""Snapshot objects: sealing and saving (every writer), listing, loading, deleting (full key).

A snapshot is stored sealed under ``snapshots/<id>``, where the id is a keyed hash
of its plaintext (stable under re-encryption); loading verifies the id and records
the snapshot's provenance (design D9). A write-only agent signs what it saves
(:class:`keyark.repo.agent_session.AgentSnapshotWriter`). Saving is guarded
(issue 9): nothing is saved once a pack this session stored is gone or its lock
was lost.
"""

from __future__ import annotations

import contextlib
import hmac

from keyark.backends.base import Backend
from keyark.crypto.envelope import ObjectKind, Sealer, envelope_key_id
from keyark.errors import IntegrityError, NotFoundError
from keyark.repo.blob_writer import BlobWriter
from keyark.repo.inventory import INVENTORY_PREFIX
from keyark.repo.keys import KeyStore
from keyark.repo.pack_store import object_key_id
from keyark.repo.snapshot import SNAPSHOT_PREFIX, Snapshot
from keyark.repo.snapshot_trust import read_snapshot


class SnapshotWriter:
    """Seals and stores snapshot documents (the write path every session has)."""

    def __init__(self, backend: Backend, blobs: BlobWriter, repo_id: str) -> None:
        self._backend = backend
        self._blobs = blobs
        self.repo_id = repo_id

    def snapshot_id_of(self, plaintext: bytes) -> str:
        """A snapshot's id: a keyed hash of its plaintext, stable under re-encryption."""
        return self._blobs.hasher(b"keyark snapshot\x00" + plaintext).hex()

    def store_bytes(
        self, plaintext: bytes, sealer: Sealer | None = None, *, overwrite: bool = False
    ) -> str:
        """Seal (with the current key unless ``sealer``) and store a snapshot document; its id."""
        sealer = sealer or self._blobs.current_sealer()
        snapshot_id = self.snapshot_id_of(plaintext)
        sealed = sealer.seal(ObjectKind.SNAPSHOT, snapshot_id.encode(), plaintext)
        self._backend.put(SNAPSHOT_PREFIX + snapshot_id, sealed, overwrite=overwrite)
        return snapshot_id

    def document(self, snapshot: Snapshot) -> bytes:
        """The plaintext this writer stores for ``snapshot`` (an agent wraps it signed)."""
        return snapshot.to_bytes()

    def save(self, snapshot: Snapshot) -> str:
        """Save ``snapshot`` once every pack this session stored is durable; set its id."""
        # Refuse if the lock was lost or a pack this session stored is gone (issue 9).
        self._blobs.ensure_packs_durable("nothing was saved")
        sealer = self._blobs.current_sealer()
        snapshot.id = self.store_bytes(self.document(snapshot), sealer)
        snapshot.key_id = sealer.key.key_id.hex()
        return snapshot.id


class SnapshotStore(SnapshotWriter):
    """Saving, listing, loading and deleting a repository's snapshots (full key)."""

    def __init__(self, backend: Backend, blobs: BlobWriter, keys: KeyStore, repo_id: str) -> None:
        super().__init__(backend, blobs, repo_id)
        self._keys = keys

    def ids(self) -> list[str]:
        """The id of every stored snapshot."""
        return [info.name[len(SNAPSHOT_PREFIX) :] for info in self._backend.list(SNAPSHOT_PREFIX)]

    def key_id_of(self, snapshot_id: str) -> bytes:
        """The key id a stored snapshot's envelope names (not verified; errors raised)."""
        return object_key_id(self._backend, SNAPSHOT_PREFIX + snapshot_id)

    def load_bytes(self, snapshot_id: str) -> tuple[bytes, bytes]:
        """Decrypt and verify a snapshot document: (plaintext, key id)."""
        data = self._backend.get(SNAPSHOT_PREFIX + snapshot_id)
        key_id = envelope_key_id(data)
        raw = self._keys.sealer_for(key_id).open(ObjectKind.SNAPSHOT, snapshot_id.encode(), data)
        if not hmac.compare_digest(self.snapshot_id_of(raw), snapshot_id):
            raise IntegrityError(f"snapshot {snapshot_id[:8]} does not match its name (corrupt)")
        return raw, key_id

    def load(self, snapshot_id: str) -> Snapshot:
        """Load, verify and parse one snapshot, recording its provenance (design D9).

        ``extra["agent"]`` names the agent that wrote it and ``extra["signature"]``
        holds the signature check (see :mod:`keyark.repo.snapshot_trust`); a malformed
        snapshot is a :class:`FormatError` naming it.
        """
        raw, key_id = self.load_bytes(snapshot_id)
        return read_snapshot(self._keys.keyring, self.repo_id, snapshot_id, raw, key_id)

    def delete(self, snapshot_id: str) -> None:
        """Delete one snapshot object, then its inventory sidecar (if it has one)."""
        self._backend.delete(SNAPSHOT_PREFIX + snapshot_id)
        with contextlib.suppress(NotFoundError):
            self._backend.delete(INVENTORY_PREFIX + snapshot_id)


__all__ = ["SnapshotStore", "SnapshotWriter"]
