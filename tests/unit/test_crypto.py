"""Envelope, KDF, slots and keyring."""

from __future__ import annotations

import time
from pathlib import Path

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


def test_default_argon2id_is_calibrated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the test-suite switch: 64 MiB and a time cost making a derive take ~0.4 s."""
    monkeypatch.delenv(kdf.FAST_ENV, raising=False)
    params = kdf.default_params()
    assert params.memory_kib == 64 * 1024 and params.parallelism == 1
    assert kdf.ARGON2_MIN_TIME_COST <= params.time_cost <= kdf.MAX_TIME_COST
    started = time.perf_counter()
    kdf.derive(b"pw", params)
    elapsed = time.perf_counter() - started
    assert 0.1 < elapsed < 2.0, elapsed  # loose: the machine may be busy
    assert params.is_current()
    old = kdf.KdfParams(kdf.ARGON2ID, b"s" * 16, time_cost=3, memory_kib=19 * 1024, parallelism=1)
    assert not old.is_current()


def test_slot_x25519_layout_and_sealed_metadata() -> None:
    root = new_key()
    slot = slots.passphrase_slot(root, b"pw", label="ops laptop")
    stored = slot.to_bytes()
    assert b"ops laptop" not in stored and slot.host.encode() not in stored
    parsed = slots.KeySlot.from_bytes(slot.slot_id, stored)
    assert parsed.label == "" and parsed.public == slot.public
    assert parsed.reveal(root) and parsed.label == "ops laptop" and parsed.host == slot.host
    assert not parsed.reveal(new_key())
    # Re-wrapping needs no passphrase; the old KR no longer comes out of the slot.
    new_root = new_key()
    moved = slots.rewrap(parsed, root, new_root)
    opened, _ = slots.unlock([moved], slots.Credentials(passphrase=b"pw"))
    assert opened.secret == new_root.secret
    assert moved.reveal(new_root) and moved.label == "ops laptop"
    with pytest.raises(IntegrityError):
        slots.rewrap(moved, root, new_key())  # not authentic under the old KR any more


def test_unlock_skips_stale_slots() -> None:
    root, stale_root = new_key(), new_key()
    stale = slots.passphrase_slot(stale_root, b"pw")
    good = slots.passphrase_slot(root, b"pw")
    opened, used = slots.unlock(
        [stale, good], slots.Credentials(passphrase=b"pw"), accept=lambda r, _s: r == root
    )
    assert used.slot_id == good.slot_id and opened == root
    with pytest.raises(WrongPasswordError, match="outdated keyring key"):
        slots.unlock([stale], slots.Credentials(passphrase=b"pw"), accept=lambda r, _s: r == root)


def test_passwd_upgrades_an_old_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyark import keys, ops
    from keyark.backends.local import LocalBackend
    from keyark.repo.repository import Repository, list_slots

    repo = Repository.init(LocalBackend(tmp_path / "repo"), b"pw")
    assert repo.keys.root_key is not None
    old = kdf.KdfParams(kdf.ARGON2ID, b"s" * 16, time_cost=3, memory_kib=19 * 1024, parallelism=1)
    legacy = slots.wrap_root_key(
        repo.keys.root_key, slots.PASSPHRASE, {"kdf": old.to_dict()}, kdf.derive(b"legacy", old)
    )
    repo.keys.add_slot(legacy)
    repo.close()
    monkeypatch.delenv(kdf.FAST_ENV, raising=False)
    with ops.open_repository(
        str(tmp_path / "repo"), slots.Credentials(passphrase=b"legacy"), cache_dir=tmp_path / "c"
    ) as opened:
        assert opened.keys.slot is not None and opened.keys.slot.slot_id == legacy.slot_id
        info = keys.change_passphrase(opened, b"new passphrase")
        backend = opened.backend
        remaining = {s.slot_id: s for s in list_slots(backend)}
    assert legacy.slot_id not in remaining
    upgraded = slots.passphrase_params(remaining[info.slot_id])
    assert upgraded.is_current() and upgraded.memory_kib == 64 * 1024
