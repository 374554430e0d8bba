"""The keyring: id key, data keys by epoch, and room for recipient keys.

It is one msgpack document sealed with KR in the ``keyring`` object. Data keys
are epochs: exactly one is current (used for new objects); retired ones only
decrypt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519

from keyark.crypto.envelope import Cipher, ObjectKind, Sealer, SymmetricKey, new_key
from keyark.errors import FormatError

KEYRING_NAME = "keyring"
CURRENT = "current"
RETIRED = "retired"


@dataclass
class DataKey:
    """One data-key epoch."""

    key: SymmetricKey = field(repr=False)
    created: str
    state: str = CURRENT

    @property
    def key_id(self) -> bytes:
        return self.key.key_id


@dataclass
class Keyring:
    """Everything KR unlocks."""

    id_key: bytes = field(repr=False)
    data_keys: dict[bytes, DataKey]
    #: Extension point for later key kinds (recipients, agents), kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Monotonic: every save increments it; clients refuse a keyring older than one seen.
    version: int = 1
    #: Ed25519 private key (raw 32 bytes) that signs the repository config.
    config_signing_key: bytes = field(default=b"", repr=False)

    @property
    def config_public_key(self) -> bytes:
        """The raw Ed25519 public key that verifies the config signature."""
        private = ed25519.Ed25519PrivateKey.from_private_bytes(self.config_signing_key)
        return private.public_key().public_bytes_raw()

    @classmethod
    def create(cls, cipher: Cipher = Cipher.AES_256_GCM) -> Keyring:
        first = DataKey(new_key(cipher), _now())
        signing = ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(
            id_key=os.urandom(32), data_keys={first.key_id: first}, config_signing_key=signing
        )

    @property
    def current(self) -> DataKey:
        for data_key in self.data_keys.values():
            if data_key.state == CURRENT:
                return data_key
        raise FormatError("keyring has no current data key")

    def rotate(self) -> DataKey:
        """Make a fresh data key current and retire the others."""
        cipher = self.current.key.cipher
        for data_key in self.data_keys.values():
            data_key.state = RETIRED
        fresh = DataKey(new_key(cipher), _now())
        self.data_keys[fresh.key_id] = fresh
        return fresh

    def to_bytes(self) -> bytes:
        document = {
            "v": 2,
            "version": self.version,
            "config_signing_key": self.config_signing_key,
            "id_key": self.id_key,
            "data_keys": [
                {
                    "id": dk.key.key_id,
                    "key": dk.key.secret,
                    "cipher": int(dk.key.cipher),
                    "created": dk.created,
                    "state": dk.state,
                }
                for dk in self.data_keys.values()
            ],
            "extra": self.extra,
        }
        return bytes(msgpack.packb(document, use_bin_type=True))

    @classmethod
    def from_bytes(cls, data: bytes) -> Keyring:
        try:
            document = msgpack.unpackb(data, raw=False)
            keys = {}
            for entry in document["data_keys"]:
                key = SymmetricKey(entry["id"], entry["key"], Cipher(entry["cipher"]))
                keys[key.key_id] = DataKey(key, entry["created"], entry["state"])
            return cls(
                id_key=document["id_key"],
                data_keys=keys,
                extra=document.get("extra", {}),
                version=int(document["version"]),
                config_signing_key=bytes(document["config_signing_key"]),
            )
        except (KeyError, ValueError, TypeError, msgpack.UnpackException) as error:
            raise FormatError(f"keyring is malformed ({error})") from None

    def seal(self, root: SymmetricKey) -> bytes:
        return Sealer(root).seal(ObjectKind.KEYRING, KEYRING_NAME.encode(), self.to_bytes())

    @classmethod
    def open(cls, root: SymmetricKey, envelope: bytes) -> Keyring:
        return cls.from_bytes(
            Sealer(root).open(ObjectKind.KEYRING, KEYRING_NAME.encode(), envelope)
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
