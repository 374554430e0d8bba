"""Snapshot objects, mixed into :class:`~keyark.repo.repository.Repository`.

A snapshot is stored sealed under ``snapshots/<id>``, where the id is a keyed hash
of its plaintext (stable under re-encryption); loading verifies the id and records
the snapshot's provenance (design D9). A write-only agent signs what it saves.
Saving is guarded (issue 9): nothing is saved once a pack this session stored is
gone or its lock was lost.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from keyark.crypto.agents import wrap_signed
from keyark.crypto.envelope import ObjectKind, Sealer, envelope_key_id
from keyark.errors import IntegrityError
from keyark.repo.blob_store import BlobStore
from keyark.repo.snapshot import SNAPSHOT_PREFIX, Snapshot
from keyark.repo.snapshot_trust import read_snapshot


class SnapshotStore(BlobStore):
    """Saving, listing, loading and deleting a repository's snapshots."""

    @property
    def repo_id(self) -> str:  # pragma: no cover - Repository's
        raise NotImplementedError

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
        # Refuse if the lock was lost or a pack this session stored is gone (issue 9).
        self.ensure_packs_durable("nothing was saved")
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
