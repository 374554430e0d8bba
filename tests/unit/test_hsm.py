"""PKCS#11 slots against a real SoftHSM2 token (see tests/hsm.py for the skip rule)."""

from __future__ import annotations

import os

import pytest
import tests.hsm as softhsm_support
from tests.hsm import AES_KEY, OTHER_AES_KEY, RSA_KEY, SoftHSM

from keyark.crypto import hsm
from keyark.crypto.envelope import new_key
from keyark.crypto.slots import Credentials, unlock
from keyark.errors import Hint, IntegrityError, UsageError, WrongPasswordError

softhsm = softhsm_support.softhsm  # the session fixture


def config(hsm_: SoftHSM, key: str = AES_KEY, **changes: str) -> hsm.Pkcs11Config:
    base = {"module": hsm_.module, "token": hsm_.token, "key": key, "pin": hsm_.pin}
    base.update(changes)
    return hsm.Pkcs11Config(**base)


def test_aes_key_wrap_pad_round_trip(softhsm: SoftHSM) -> None:
    secret = os.urandom(32)
    mechanism, wrapped = hsm.wrap_secret(config(softhsm), secret)
    assert mechanism == "aes-key-wrap-pad" and len(wrapped) == 40 and secret not in wrapped
    assert hsm.unwrap_secret(config(softhsm), mechanism, wrapped) == secret
    with pytest.raises(IntegrityError, match="cannot unwrap"):
        hsm.unwrap_secret(config(softhsm, OTHER_AES_KEY), mechanism, wrapped)


def test_rsa_oaep_sha1_round_trip(softhsm: SoftHSM) -> None:
    secret = os.urandom(32)
    cfg = config(softhsm, RSA_KEY, mechanism="rsa-oaep-sha1")
    mechanism, wrapped = hsm.wrap_secret(cfg, secret)
    assert mechanism == "rsa-oaep-sha1" and len(wrapped) == 256
    assert hsm.unwrap_secret(cfg, mechanism, wrapped) == secret


def test_softhsm_rejects_oaep_sha256_with_a_hint(softhsm: SoftHSM) -> None:
    """SoftHSM 2.6.1 accepts only SHA-1 OAEP parameters; the default for RSA is SHA-256."""
    with pytest.raises(UsageError, match="rejected rsa-oaep-sha256; this token lacks") as refused:
        hsm.wrap_secret(config(softhsm, RSA_KEY), os.urandom(32))
    assert refused.value.hint == Hint.PKCS11_MECHANISM  # the CLI: --pkcs11-mechanism


def test_mechanism_must_fit_the_key(softhsm: SoftHSM) -> None:
    with pytest.raises(UsageError, match="does not fit the AES key"):
        hsm.wrap_secret(config(softhsm, mechanism="rsa-oaep-sha1"), os.urandom(32))
    with pytest.raises(UsageError, match="does not fit the RSA key"):
        hsm.wrap_secret(config(softhsm, RSA_KEY, mechanism="aes-key-wrap-pad"), os.urandom(32))


def test_pkcs11_slot_and_unlocker(softhsm: SoftHSM) -> None:
    root = new_key()
    slot = hsm.pkcs11_slot(root, config(softhsm), "hsm")
    assert slot.kind == "pkcs11" and slot.params["token"] == softhsm.token
    assert slot.params["key"] == AES_KEY and slot.params["mechanism"] == "aes-key-wrap-pad"
    # Token and key come from the slot when only the module and PIN are given.
    bare = hsm.Pkcs11Config(softhsm.module, pin=softhsm.pin)
    opened, used = unlock([slot], Credentials(unlockers={"pkcs11": hsm.unlocker(bare)}))
    assert opened == root and used is slot
    # A different key label does not fit the slot at all.
    other = Credentials(unlockers={"pkcs11": hsm.unlocker(config(softhsm, OTHER_AES_KEY))})
    with pytest.raises(WrongPasswordError, match="accepts the PKCS#11 key"):
        unlock([slot], other)
    rsa_slot = hsm.pkcs11_slot(root, config(softhsm, RSA_KEY, mechanism="rsa-oaep-sha1"))
    assert unlock([rsa_slot], Credentials(unlockers={"pkcs11": hsm.unlocker(bare)}))[0] == root


def test_wrong_pin_is_a_wrong_password(softhsm: SoftHSM) -> None:
    with pytest.raises(WrongPasswordError, match="PKCS#11 PIN rejected by token 'keyark-test'"):
        hsm.wrap_secret(config(softhsm, pin="0000"), os.urandom(32))
    with pytest.raises(UsageError, match="no PKCS#11 token given") as refused:
        hsm.wrap_secret(config(softhsm, token=""), os.urandom(32))
    assert refused.value.hint == Hint.PKCS11_TOKEN


def test_missing_module_token_key_and_pin(softhsm: SoftHSM) -> None:
    with pytest.raises(UsageError, match=r"PKCS#11 module /nonexistent/libx\.so does not exist"):
        hsm.wrap_secret(config(softhsm, module="/nonexistent/libx.so"), b"x" * 32)
    with pytest.raises(UsageError, match="cannot load PKCS#11 module /etc/hostname"):
        hsm.wrap_secret(config(softhsm, module="/etc/hostname"), b"x" * 32)
    with pytest.raises(UsageError, match="no PKCS#11 token labelled 'nope'"):
        hsm.wrap_secret(config(softhsm, token="nope"), b"x" * 32)
    with pytest.raises(UsageError, match="no AES or RSA key labelled 'nokey'"):
        hsm.wrap_secret(config(softhsm, "nokey"), b"x" * 32)
    with pytest.raises(UsageError, match="no PKCS#11 PIN given") as refused:
        hsm.wrap_secret(config(softhsm, pin=""), b"x" * 32)
    assert refused.value.hint == Hint.PKCS11_PIN  # the CLI: set KEYARK_PKCS11_PIN


def test_secrets_stay_out_of_repr(softhsm: SoftHSM) -> None:
    assert softhsm.pin not in repr(config(softhsm))


def test_skip_rule_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: SoftHSM2"):
        softhsm_support._unavailable("SoftHSM2 is not installed")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        softhsm_support._unavailable("SoftHSM2 is not installed")


def test_missing_python_pkcs11_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from keyark.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "pkcs11", None)  # makes 'import pkcs11' fail
    with pytest.raises(MissingExtraError, match=r"pip install 'keyark\[hsm\]'"):
        hsm.wrap_secret(hsm.Pkcs11Config("/x.so", "t", "k", "1234"), b"x" * 32)
