"""PKCS#11 slots: a per-slot key-encryption key wrapped by a key that never leaves an HSM.

Each slot holds a fresh random 32-byte KEK, wrapped inside the token by the
labelled HSM key, and KR sealed under that KEK in the common slot envelope.
Opening the slot asks the token to unwrap the KEK; its value exists only in this
process's memory, and the HSM key itself is never exported.

Mechanisms (stored in the slot, so opening uses the one that wrapped):

* ``aes-key-wrap-pad`` — CKM_AES_KEY_WRAP_PAD (RFC 5649) via C_WrapKey/C_UnwrapKey
  with an AES key; the default for AES keys.
* ``rsa-oaep-sha256`` — CKM_RSA_PKCS_OAEP with SHA-256/MGF1-SHA-256 (C_Encrypt with
  the public key, C_Decrypt with the private key); the default for RSA keys.
* ``rsa-oaep-sha1`` — the same with SHA-1, for tokens that lack SHA-256 OAEP: SoftHSM
  2.6 rejects SHA-256 OAEP parameters (CKR_ARGUMENTS_BAD).

The PIN comes from the caller (a face resolves it with :mod:`keyark.config`), never from argv.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from keyark.crypto.envelope import SymmetricKey
from keyark.crypto.slots import KeySlot, wrap_root_key
from keyark.errors import (
    FormatError,
    Hint,
    IntegrityError,
    KeyarkError,
    MissingExtraError,
    UsageError,
    WrongPasswordError,
)

PKCS11 = "pkcs11"
AES_KEY_WRAP_PAD = "aes-key-wrap-pad"
RSA_OAEP_SHA256 = "rsa-oaep-sha256"
RSA_OAEP_SHA1 = "rsa-oaep-sha1"
MECHANISMS = (AES_KEY_WRAP_PAD, RSA_OAEP_SHA256, RSA_OAEP_SHA1)


class HsmError(KeyarkError):
    """The PKCS#11 module or token failed in a way the user cannot fix by retyping."""


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the HSM key is: module path, token label, key label, and the PIN."""

    module: str
    token: str | None = None
    key: str | None = None
    pin: str = field(default="", repr=False)
    #: None: ``aes-key-wrap-pad`` for AES keys, ``rsa-oaep-sha256`` for RSA keys.
    mechanism: str | None = None

    def where(self) -> str:
        return f"key {self.key!r} on PKCS#11 token {self.token!r}"


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise MissingExtraError(
            "PKCS#11 key slots need python-pkcs11: pip install 'keyark[hsm]'"
        ) from None
    return pkcs11


@contextmanager
def _session(config: Pkcs11Config) -> Iterator[Any]:
    """A logged-in session on the configured token; PKCS#11 errors become keyark errors."""
    pkcs11 = _pkcs11()
    from pkcs11 import exceptions as p11e

    if not config.token:
        raise UsageError("no PKCS#11 token given", hint=Hint.PKCS11_TOKEN)
    if not os.path.exists(config.module):
        raise UsageError(f"PKCS#11 module {config.module} does not exist")
    try:
        lib = pkcs11.lib(config.module)
    except p11e.PKCS11Error as error:
        raise UsageError(f"cannot load PKCS#11 module {config.module} ({error})") from None
    try:
        token = lib.get_token(token_label=config.token)
    except p11e.NoSuchToken:
        raise UsageError(f"no PKCS#11 token labelled {config.token!r} in {config.module}") from None
    except p11e.MultipleTokensReturned:
        raise UsageError(f"several PKCS#11 tokens are labelled {config.token!r}") from None
    if not config.pin:
        raise UsageError("no PKCS#11 PIN given", hint=Hint.PKCS11_PIN)
    try:
        session = token.open(user_pin=config.pin)
    except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
        raise WrongPasswordError(
            f"PKCS#11 PIN rejected by token {config.token!r}", hint=Hint.PKCS11_PIN
        ) from None
    except (p11e.PinLocked, p11e.PinExpired) as error:
        raise WrongPasswordError(
            f"PKCS#11 PIN of token {config.token!r} is {type(error).__name__[3:].lower()}; "
            "unlock or reset it with the token's tools"
        ) from None
    except p11e.PKCS11Error as error:
        raise HsmError(
            f"cannot log in to PKCS#11 token {config.token!r} ({_name(error)})"
        ) from None
    try:
        with session:
            yield session
    except p11e.PKCS11Error as error:
        raise HsmError(f"PKCS#11 {config.where()} failed ({_name(error)})") from None


def _name(error: Exception) -> str:
    return str(error) or type(error).__name__


def _find_key(session: Any, config: Pkcs11Config, *, private: bool) -> tuple[str, Any]:
    """('aes' | 'rsa', key object) for the configured label."""
    from pkcs11 import KeyType, ObjectClass
    from pkcs11 import exceptions as p11e

    if not config.key:
        raise UsageError("no PKCS#11 key given", hint=Hint.PKCS11_KEY)
    try:
        key = session.get_key(label=config.key, object_class=ObjectClass.SECRET_KEY)
        if key.key_type != KeyType.AES:
            raise UsageError(f"PKCS#11 {config.where()} is not an AES or RSA key")
        return "aes", key
    except p11e.NoSuchKey:
        pass
    except p11e.MultipleObjectsReturned:
        raise UsageError(f"several secret keys are labelled {config.key!r}") from None
    object_class = ObjectClass.PRIVATE_KEY if private else ObjectClass.PUBLIC_KEY
    try:
        key = session.get_key(label=config.key, object_class=object_class, key_type=KeyType.RSA)
    except p11e.NoSuchKey:
        raise UsageError(
            f"no AES or RSA key labelled {config.key!r} on PKCS#11 token {config.token!r}"
        ) from None
    except p11e.MultipleObjectsReturned:
        raise UsageError(f"several RSA keys are labelled {config.key!r}") from None
    return "rsa", key


def _oaep(mechanism: str) -> tuple[Any, Any]:
    from pkcs11 import MGF, Mechanism

    if mechanism == RSA_OAEP_SHA256:
        return Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA256, MGF.SHA256, None)
    return Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA_1, MGF.SHA1, None)


def wrap_secret(config: Pkcs11Config, secret: bytes) -> tuple[str, bytes]:
    """Wrap ``secret`` with the HSM key; return (mechanism, wrapped bytes)."""
    _pkcs11()  # MissingExtraError before any other import of it
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11e

    with _session(config) as session:
        kind, key = _find_key(session, config, private=False)
        mechanism = config.mechanism or (AES_KEY_WRAP_PAD if kind == "aes" else RSA_OAEP_SHA256)
        if mechanism not in MECHANISMS:
            raise UsageError(f"unknown PKCS#11 mechanism {mechanism!r}")
        if (kind == "aes") != (mechanism == AES_KEY_WRAP_PAD):
            raise UsageError(f"mechanism {mechanism} does not fit the {kind.upper()} key")
        if kind == "aes":
            template = {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: secret,
                Attribute.TOKEN: False,
                Attribute.EXTRACTABLE: True,
                Attribute.SENSITIVE: False,
            }
            transient = session.create_object(template)
            try:
                wrapped = bytes(key.wrap_key(transient, mechanism=Mechanism.AES_KEY_WRAP_PAD))
            finally:
                transient.destroy()
            return mechanism, wrapped
        name, param = _oaep(mechanism)
        try:
            return mechanism, bytes(key.encrypt(secret, mechanism=name, mechanism_param=param))
        except (p11e.ArgumentsBad, p11e.MechanismInvalid, p11e.MechanismParamInvalid):
            if mechanism == RSA_OAEP_SHA256:
                raise UsageError(
                    f"the PKCS#11 token rejected {mechanism}; this token lacks SHA-256 OAEP "
                    "(SoftHSM 2.6 does)",
                    hint=Hint.PKCS11_MECHANISM,
                ) from None
            raise UsageError(f"the PKCS#11 token rejected {mechanism}") from None


def unwrap_secret(config: Pkcs11Config, mechanism: str, wrapped: bytes) -> bytes:
    """Unwrap inside the HSM; :class:`IntegrityError` if this key did not wrap it."""
    _pkcs11()  # MissingExtraError before any other import of it
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11e

    refused = (
        p11e.GeneralError,
        p11e.EncryptedDataInvalid,
        p11e.EncryptedDataLenRange,
        p11e.WrappedKeyInvalid,
        p11e.WrappedKeyLenRange,
        p11e.DataInvalid,
        p11e.DataLenRange,
    )
    with _session(config) as session:
        kind, key = _find_key(session, config, private=True)
        if (kind == "aes") != (mechanism == AES_KEY_WRAP_PAD):
            raise IntegrityError(f"PKCS#11 {config.where()} is not the kind this slot needs")
        try:
            if kind == "aes":
                template = {
                    Attribute.EXTRACTABLE: True,
                    Attribute.SENSITIVE: False,
                    Attribute.TOKEN: False,
                }
                unwrapped = key.unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    wrapped,
                    mechanism=Mechanism.AES_KEY_WRAP_PAD,
                    template=template,
                )
                try:
                    return bytes(unwrapped[Attribute.VALUE])
                finally:
                    unwrapped.destroy()
            name, param = _oaep(mechanism)
            return bytes(key.decrypt(wrapped, mechanism=name, mechanism_param=param))
        except refused:
            raise IntegrityError(f"PKCS#11 {config.where()} cannot unwrap this slot") from None


def pkcs11_slot(root: SymmetricKey, config: Pkcs11Config, label: str = "") -> KeySlot:
    """A new slot for ``root`` whose KEK only the HSM key can unwrap (checked before return)."""
    kek = os.urandom(32)
    mechanism, wrapped = wrap_secret(config, kek)
    try:
        if unwrap_secret(config, mechanism, wrapped) != kek:
            raise HsmError(f"PKCS#11 {config.where()} returned a different key on unwrap")
    except IntegrityError:
        raise HsmError(f"PKCS#11 {config.where()} cannot unwrap what it wrapped") from None
    params = {
        "module": config.module,
        "token": config.token,
        "key": config.key,
        "mechanism": mechanism,
        "wrapped_kek": wrapped.hex(),
    }
    return wrap_root_key(root, PKCS11, params, kek, label)


def unlocker(config: Pkcs11Config) -> Callable[[KeySlot], bytes | None]:
    """The unlocker for PKCS#11 slots; token and key default to the slot's own labels."""

    def kek_for(slot: KeySlot) -> bytes | None:
        try:
            token = str(slot.params["token"])
            key = str(slot.params["key"])
            mechanism = str(slot.params["mechanism"])
            wrapped = bytes.fromhex(str(slot.params["wrapped_kek"]))
        except (KeyError, ValueError) as error:
            raise FormatError(f"key slot {slot.slot_id} is malformed ({error})") from None
        if (config.token and config.token != token) or (config.key and config.key != key):
            return None
        target = Pkcs11Config(config.module, token, key, config.pin, mechanism)
        return unwrap_secret(target, mechanism, wrapped)

    return kek_for
