"""Key slots: each wraps the keyring key (KR) under a key-encryption key.

A slot is a small JSON document in ``keys/<slot-id>``, readable without a key:
kind, public parameters (KDF, salt, HSM key label, ...) and the wrapped KR.
The kinds share one envelope; how the key-encryption key is obtained is the only
difference. Changing a slot never touches data.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keyark.crypto import kdf
from keyark.crypto.envelope import KEY_ID_SIZE, ObjectKind, Sealer, SymmetricKey
from keyark.errors import FormatError, IntegrityError, WrongPasswordError

PASSPHRASE = "passphrase"  # noqa: S105 - a slot kind, not a secret
#: How messages name each slot kind's key material.
KIND_NAMES = {
    PASSPHRASE: "the passphrase",
    "keyfile": "the key file",
    "pkcs11": "the PKCS#11 key",
    "recovery": "the recovery shares",
}


@dataclass
class KeySlot:
    """One way to unlock a repository."""

    slot_id: str
    kind: str
    params: dict[str, Any]
    wrapped: bytes
    created: str = ""
    host: str = ""
    username: str = ""
    label: str = ""

    @property
    def name(self) -> str:
        """Object name in the backend."""
        return f"keys/{self.slot_id}"

    def to_bytes(self) -> bytes:
        document = {
            "version": 1,
            "kind": self.kind,
            "created": self.created,
            "host": self.host,
            "username": self.username,
            "label": self.label,
            "params": self.params,
            "wrapped": self.wrapped.hex(),
        }
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, slot_id: str, data: bytes) -> KeySlot:
        try:
            document = json.loads(data)
            return cls(
                slot_id=slot_id,
                kind=str(document["kind"]),
                params=dict(document.get("params", {})),
                wrapped=bytes.fromhex(document["wrapped"]),
                created=str(document.get("created", "")),
                host=str(document.get("host", "")),
                username=str(document.get("username", "")),
                label=str(document.get("label", "")),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise FormatError(f"key slot {slot_id} is malformed ({error})") from None


@dataclass(frozen=True)
class Credentials:
    """Key material the user supplied. Secrets are never printed."""

    passphrase: bytes | None = field(default=None, repr=False)
    #: Extra unlockers by slot kind (key file, PKCS#11, ...), each returning a KEK or None.
    unlockers: dict[str, Callable[[KeySlot], bytes | None]] = field(
        default_factory=dict, repr=False
    )

    def describe(self) -> str:
        kinds = ([PASSPHRASE] if self.passphrase is not None else []) + sorted(self.unlockers)
        return " or ".join(KIND_NAMES.get(kind, kind) for kind in kinds) or "no key material"


def _slot_sealer(slot_id: str, kek: bytes) -> Sealer:
    return Sealer(SymmetricKey(bytes.fromhex(slot_id)[:KEY_ID_SIZE], kek))


def wrap_root_key(root: SymmetricKey, kind: str, params: dict[str, Any], kek: bytes) -> KeySlot:
    """Create a new slot of ``kind`` holding ``root`` under ``kek``."""
    slot_id = os.urandom(16).hex()
    wrapped = _slot_sealer(slot_id, kek).seal(
        ObjectKind.SLOT, slot_id.encode(), root.key_id + root.secret
    )
    return KeySlot(
        slot_id=slot_id,
        kind=kind,
        params=params,
        wrapped=wrapped,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        host=socket.gethostname(),
        username=_username(),
    )


def unwrap_root_key(slot: KeySlot, kek: bytes) -> SymmetricKey:
    """Open ``slot`` with ``kek``; :class:`IntegrityError` if it is the wrong key."""
    raw = _slot_sealer(slot.slot_id, kek).open(ObjectKind.SLOT, slot.slot_id.encode(), slot.wrapped)
    if len(raw) != KEY_ID_SIZE + 32:
        raise FormatError(f"key slot {slot.slot_id} holds a malformed key")
    return SymmetricKey(raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def passphrase_slot(root: SymmetricKey, passphrase: bytes, kdf_name: str = kdf.ARGON2ID) -> KeySlot:
    """A new passphrase slot for ``root``."""
    params = kdf.default_params(kdf_name)
    kek = kdf.derive(passphrase, params)
    return wrap_root_key(root, PASSPHRASE, {"kdf": params.to_dict()}, kek)


def _passphrase_kek(slot: KeySlot, passphrase: bytes) -> bytes:
    return kdf.derive(passphrase, kdf.KdfParams.from_dict(slot.params.get("kdf", {})))


def unlock(slots: Iterable[KeySlot], credentials: Credentials) -> tuple[SymmetricKey, KeySlot]:
    """Return KR and the slot that opened it, trying every slot the credentials fit."""
    tried = 0
    for slot in slots:
        kek: bytes | None = None
        try:
            if slot.kind == PASSPHRASE and credentials.passphrase is not None:
                kek = _passphrase_kek(slot, credentials.passphrase)
            elif slot.kind in credentials.unlockers:
                # An unlocker returns None for a slot it does not fit, raises
                # IntegrityError for one it fits but cannot open (wrong key).
                kek = credentials.unlockers[slot.kind](slot)
        except IntegrityError as error:
            if isinstance(error, FormatError):
                raise
            tried += 1
            continue
        if kek is None:
            continue
        tried += 1
        try:
            return unwrap_root_key(slot, kek), slot
        except IntegrityError:
            continue
    if tried == 0:
        raise WrongPasswordError(f"no key slot of this repository accepts {credentials.describe()}")
    if credentials.passphrase is not None and not credentials.unlockers:
        raise WrongPasswordError(
            "wrong passphrase or key: no key slot opened; check KEYARK_PASSWORD / the key source"
        )
    raise WrongPasswordError(f"wrong key: {credentials.describe()} opens no key slot")


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
