"""Envelope, KDF, slots and keyring."""

from __future__ import annotations

import pytest

from keyark.crypto import kdf, slots
from keyark.crypto.envelope import Cipher, ObjectKind, Sealer, envelope_key_id, new_key
from keyark.crypto.keyring import RETIRED, Keyring
from keyark.errors import FormatError, IntegrityError, WrongPasswordError


@pytest.mark.parametrize("cipher", list(Cipher))
def test_envelope_round_trip_and_binding(cipher: Cipher) -> None:
    key = new_key(cipher)
    sealer = Sealer(key)
    sealed = sealer.seal(ObjectKind.DATA_BLOB, b"id-1", b"secret bytes")
    assert b"secret bytes" not in sealed
    assert envelope_key_id(sealed) == key.key_id
    assert sealer.open(ObjectKind.DATA_BLOB, b"id-1", sealed) == b"secret bytes"
    with pytest.raises(IntegrityError):
        sealer.open(ObjectKind.TREE_BLOB, b"id-1", sealed)  # other kind
    with pytest.raises(IntegrityError):
        sealer.open(ObjectKind.DATA_BLOB, b"id-2", sealed)  # other name
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(IntegrityError):
        sealer.open(ObjectKind.DATA_BLOB, b"id-1", bytes(tampered))
    with pytest.raises(IntegrityError):
        Sealer(new_key(cipher)).open(ObjectKind.DATA_BLOB, b"id-1", sealed)


def test_nonces_differ() -> None:
    sealer = Sealer(new_key())
    assert sealer.seal(ObjectKind.INDEX, b"", b"x") != sealer.seal(ObjectKind.INDEX, b"", b"x")


def test_envelope_key_id_rejects_garbage() -> None:
    with pytest.raises(FormatError):
        envelope_key_id(b"not an envelope at all, definitely not one")


def test_key_repr_hides_secret() -> None:
    key = new_key()
    assert key.secret.hex() not in repr(key)


@pytest.mark.parametrize("name", [kdf.ARGON2ID, kdf.PBKDF2_SHA256])
def test_kdf_deterministic_and_salted(name: str) -> None:
    params = kdf.default_params(name)
    assert kdf.derive(b"pw", params) == kdf.derive(b"pw", params)
    assert kdf.derive(b"pw", params) != kdf.derive(b"pw2", params)
    assert kdf.derive(b"pw", params) != kdf.derive(b"pw", kdf.default_params(name))
    assert kdf.KdfParams.from_dict(params.to_dict()) == params


def test_kdf_parameters_meet_owasp() -> None:
    params = kdf.default_params()
    assert params.memory_kib >= 19 * 1024 and params.time_cost >= 2
    assert kdf.default_params(kdf.PBKDF2_SHA256).iterations >= 600_000
    weak = kdf.KdfParams(kdf.ARGON2ID, b"s" * 16, time_cost=1, memory_kib=1024, parallelism=1)
    with pytest.raises(FormatError):
        kdf.derive(b"pw", weak)


def test_passphrase_slot_unlock() -> None:
    root = new_key()
    slot = slots.passphrase_slot(root, b"pw")
    parsed = slots.KeySlot.from_bytes(slot.slot_id, slot.to_bytes())
    opened, used = slots.unlock([parsed], slots.Credentials(passphrase=b"pw"))
    assert opened.secret == root.secret and used.slot_id == slot.slot_id
    assert b"pw" not in slot.to_bytes() and root.secret.hex() not in slot.to_bytes().decode()
    with pytest.raises(WrongPasswordError):
        slots.unlock([parsed], slots.Credentials(passphrase=b"wrong"))
    with pytest.raises(WrongPasswordError):
        slots.unlock([parsed], slots.Credentials())


def test_keyring_round_trip_and_rotation() -> None:
    root = new_key()
    ring = Keyring.create()
    first = ring.current.key_id
    ring.rotate()
    assert ring.current.key_id != first and ring.data_keys[first].state == RETIRED
    reopened = Keyring.open(root, ring.seal(root))
    assert reopened.id_key == ring.id_key
    assert set(reopened.data_keys) == set(ring.data_keys)
    with pytest.raises(IntegrityError):
        Keyring.open(new_key(), ring.seal(root))
