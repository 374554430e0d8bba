"""The keyring: id key, data keys by epoch, and room for recipient keys.

It is one msgpack document sealed with KR in the ``keyring`` object. Data keys
are epochs: exactly one is current (used for new objects); retired ones only
decrypt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519

from keyark.crypto.envelope import KEY_ID_SIZE, Cipher, ObjectKind, Sealer, SymmetricKey, new_key
from keyark.errors import FormatError
from keyark.repo.fields import Fields, checker, require_bytes

KEYRING_NAME = "keyring"
CURRENT = "current"
RETIRED = "retired"
MAX_DATA_KEYS = 10_000
_T = TypeVar("_T")


#: Extension field: when the keyring key (KR) was created (ISO 8601).
ROOT_CREATED = "root_created"


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
            id_key=os.urandom(32),
            data_keys={first.key_id: first},
            config_signing_key=signing,
            extra={ROOT_CREATED: first.created},
        )

    @property
    def root_created(self) -> str | None:
        """When the keyring key (KR) was made: at init or the last root rotation (None:
        a keyring written before keyark recorded it)."""
        value = self.extra.get(ROOT_CREATED)
        return value if isinstance(value, str) else None

    def mark_root_created(self) -> None:
        """Record that a new keyring key seals this keyring from now on."""
        self.extra[ROOT_CREATED] = _now()

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
        """Parse and validate every field (types, key sizes, states); :class:`FormatError`."""
        try:
            document = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, TypeError, RecursionError, msgpack.UnpackException):
            raise FormatError("keyring is not valid msgpack (damaged)") from None
        if not isinstance(document, dict) or document.get("v") != 2:
            raise FormatError("keyring is malformed or of an unknown format")
        version = _field(document, "version", int)
        if isinstance(version, bool) or not 1 <= version < 2**63:
            raise FormatError("keyring version is out of range")
        entries = _field(document, "data_keys", list)
        if not 1 <= len(entries) <= MAX_DATA_KEYS:
            raise FormatError("keyring holds no or too many data keys")
        keys: dict[bytes, DataKey] = {}
        for entry in entries:
            data_key = _data_key(entry)
            if data_key.key_id in keys:
                raise FormatError("keyring lists one data key twice")
            keys[data_key.key_id] = data_key
        if sum(1 for dk in keys.values() if dk.state == CURRENT) != 1:
            raise FormatError("keyring must have exactly one current data key")
        extra = _field(document, "extra", dict)
        if not all(isinstance(key, str) for key in extra):
            raise FormatError("keyring extension fields are malformed")
        _check_registry(extra)
        return cls(
            id_key=_key_bytes(document, "id_key"),
            data_keys=keys,
            extra=extra,
            version=version,
            config_signing_key=_key_bytes(document, "config_signing_key"),
        )

    def seal(self, root: SymmetricKey) -> bytes:
        return Sealer(root).seal(ObjectKind.KEYRING, KEYRING_NAME.encode(), self.to_bytes())

    @classmethod
    def open(cls, root: SymmetricKey, envelope: bytes) -> Keyring:
        return cls.from_bytes(
            Sealer(root).open(ObjectKind.KEYRING, KEYRING_NAME.encode(), envelope)
        )


def _field(document: dict[Any, Any], name: str, kind: type[_T]) -> _T:
    value = document.get(name)
    if not isinstance(value, kind):
        raise FormatError(f"keyring field {name!r} is missing or not a {kind.__name__}")
    return value


def _key_bytes(document: dict[Any, Any], name: str, size: int = 32) -> bytes:
    value = _field(document, name, bytes)
    if len(value) != size:
        raise FormatError(f"keyring field {name!r} must be {size} bytes")
    return value


def _data_key(entry: object) -> DataKey:
    if not isinstance(entry, dict):
        raise FormatError("keyring data key entry is not a map")
    key_id = _key_bytes(entry, "id", KEY_ID_SIZE)
    secret = _key_bytes(entry, "key")
    cipher = _field(entry, "cipher", int)
    if isinstance(cipher, bool) or cipher not in {int(c) for c in Cipher}:
        raise FormatError("keyring data key names an unknown cipher")
    created = _field(entry, "created", str)
    state = _field(entry, "state", str)
    if len(created) > 64 or state not in (CURRENT, RETIRED):
        raise FormatError("keyring data key has a bad creation time or state")
    return DataKey(SymmetricKey(key_id, secret, Cipher(cipher)), created, state)


def _check_registry(extra: dict[str, Any]) -> None:
    """The agent registry and recipient key, when present, have the shape their readers use."""
    agents = extra.get("agents", {})
    if not isinstance(agents, dict) or not all(
        isinstance(name, str) and isinstance(entry, dict) for name, entry in agents.items()
    ):
        raise FormatError("keyring agent registry is malformed (not a map of agent entries)")
    root_created = extra.get(ROOT_CREATED)
    if root_created is not None and (not isinstance(root_created, str) or len(root_created) > 64):
        raise FormatError("keyring root key creation time is malformed")
    recipient = extra.get("recipient")
    if recipient is None:
        return
    fields = Fields(recipient, "keyring recipient key")
    fields.get_str("kind", max_len=64)
    fields.get_bytes("public", max_len=4096)
    fields.get_optional("private", checker(require_bytes, max_len=8192))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
