"""The audit log's keys, derived from the repository's id key (part of the keyring).

One secret (``HKDF(id key, "keyark audit")``, computed by the repository handle)
gives three keys: the HMAC key of every record, the key that seals the repository
copy, and an Ed25519 key that signs checkpoints. Someone who can only write to
storage has none of them: a record they edit, insert or re-chain fails its MAC.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyark.audit.record import AuditRecord, Checkpoint, canonical
from keyark.crypto.envelope import KEY_ID_SIZE, Sealer, SymmetricKey


def _derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret
    )


@dataclass(frozen=True)
class AuditKeys:
    """The MAC key, the sealing key and the checkpoint signing key of one repository."""

    secret: bytes = field(repr=False)

    @property
    def _mac_key(self) -> bytes:
        return _derive(self.secret, "keyark audit mac")

    def sealer(self) -> Sealer:
        """Seals and opens the repository copy's objects (a key no other object uses)."""
        material = _derive(self.secret, "keyark audit objects", 32 + KEY_ID_SIZE)
        return Sealer(SymmetricKey(material[32:], material[:32]))

    def _signing_key(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.from_private_bytes(
            _derive(self.secret, "keyark audit checkpoints")
        )

    @property
    def public_key(self) -> str:
        """The checkpoint verification key (hex; not secret)."""
        return self._signing_key().public_key().public_bytes_raw().hex()

    def mac(self, record: AuditRecord) -> str:
        """The HMAC-SHA256 (hex) of a record's body."""
        return hmac.new(self._mac_key, canonical(record.body()), hashlib.sha256).hexdigest()

    def seal(self, record: AuditRecord) -> AuditRecord:
        """The record carrying its MAC."""
        return record.with_mac(self.mac(record))

    def authentic(self, record: AuditRecord) -> bool:
        """Whether the record's MAC verifies."""
        return hmac.compare_digest(self.mac(record), record.mac)

    def sign(self, checkpoint: Checkpoint) -> Checkpoint:
        """The checkpoint carrying its signature."""
        signature = self._signing_key().sign(canonical(checkpoint.body())).hex()
        return Checkpoint(**{**checkpoint.body(), "signature": signature})

    def signed(self, checkpoint: Checkpoint) -> bool:
        """Whether the checkpoint's signature verifies."""
        public = self._signing_key().public_key()
        try:
            public.verify(bytes.fromhex(checkpoint.signature), canonical(checkpoint.body()))
        except (InvalidSignature, ValueError):
            return False
        return True


__all__ = ["AuditKeys"]
