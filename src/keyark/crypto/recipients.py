"""The repository's recipient key pair: session data keys are wrapped to it.

X25519 (default): an ephemeral X25519 key agrees a secret with the recipient's
public key, HKDF-SHA256 turns it into a key-encryption key, AES-256-GCM wraps
the session key. RSA-OAEP-4096 (SHA-256) is the alternative. Whoever holds the
recipient private key (in the keyring, so: whoever unlocks KR) unwraps every
session key; an agent holding only the public key cannot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyark.errors import FormatError, IntegrityError

X25519 = "x25519"
RSA_OAEP_4096 = "rsa-oaep-4096"
_INFO = b"keyark session key v1"


@dataclass(frozen=True)
class Recipient:
    """A recipient key: ``public`` always, ``private`` only inside the keyring."""

    kind: str
    public: bytes
    private: bytes | None = field(default=None, repr=False)

    def public_only(self) -> Recipient:
        return Recipient(self.kind, self.public)

    def to_dict(self, *, private: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "public": self.public}
        if private and self.private is not None:
            data["private"] = self.private
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipient:
        try:
            return cls(str(data["kind"]), bytes(data["public"]), data.get("private"))
        except (KeyError, TypeError) as error:
            raise FormatError(f"recipient key is malformed ({error})") from None


def generate(kind: str = X25519) -> Recipient:
    """A fresh recipient key pair."""
    if kind == X25519:
        key = x25519.X25519PrivateKey.generate()
        return Recipient(
            X25519,
            key.public_key().public_bytes_raw(),
            key.private_bytes_raw(),
        )
    if kind == RSA_OAEP_4096:
        from cryptography.hazmat.primitives import serialization  # RSA only: not on every path

        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
        return Recipient(
            RSA_OAEP_4096,
            rsa_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            rsa_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    raise ValueError(f"unknown recipient kind {kind!r}")


def _kek(shared: bytes, ephemeral: bytes, public: bytes, key_id: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + public, info=_INFO + key_id
    ).derive(shared)


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def wrap(recipient: Recipient, key_id: bytes, secret: bytes) -> bytes:
    """Wrap a session key's secret to ``recipient`` (public key only needed)."""
    if recipient.kind == X25519:
        ephemeral = x25519.X25519PrivateKey.generate()
        public = x25519.X25519PublicKey.from_public_bytes(recipient.public)
        ephemeral_public = ephemeral.public_key().public_bytes_raw()
        kek = _kek(ephemeral.exchange(public), ephemeral_public, recipient.public, key_id)
        nonce = os.urandom(12)
        sealed = AESGCM(kek).encrypt(nonce, secret, key_id)
        document = {"kind": X25519, "ephemeral": ephemeral_public, "nonce": nonce, "ct": sealed}
    elif recipient.kind == RSA_OAEP_4096:
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        rsa_public = load_der_public_key(recipient.public)
        assert isinstance(rsa_public, rsa.RSAPublicKey)
        document = {"kind": RSA_OAEP_4096, "ct": rsa_public.encrypt(key_id + secret, _oaep())}
    else:
        raise FormatError(f"unknown recipient kind {recipient.kind!r}")
    return bytes(msgpack.packb(document, use_bin_type=True))


def unwrap(recipient: Recipient, key_id: bytes, wrapped: bytes) -> bytes:
    """Unwrap a session key secret; :class:`IntegrityError` if it was tampered with."""
    if recipient.private is None:
        raise IntegrityError("this key cannot unwrap session keys (no recipient private key)")
    try:
        document = msgpack.unpackb(wrapped, raw=False)
        if document["kind"] != recipient.kind:
            raise IntegrityError("session key is wrapped for another recipient kind")
        if recipient.kind == X25519:
            private = x25519.X25519PrivateKey.from_private_bytes(recipient.private)
            shared = private.exchange(
                x25519.X25519PublicKey.from_public_bytes(document["ephemeral"])
            )
            kek = _kek(shared, document["ephemeral"], recipient.public, key_id)
            return AESGCM(kek).decrypt(document["nonce"], document["ct"], key_id)
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        rsa_private = load_der_private_key(recipient.private, password=None)
        assert isinstance(rsa_private, rsa.RSAPrivateKey)
        plain = rsa_private.decrypt(document["ct"], _oaep())
        if plain[: len(key_id)] != key_id:
            raise IntegrityError("session key object names another key id")
        return plain[len(key_id) :]
    except (InvalidTag, ValueError, KeyError, TypeError, msgpack.UnpackException):
        raise IntegrityError(
            f"session key {key_id.hex()} does not unwrap (tampered or for another repository)"
        ) from None
