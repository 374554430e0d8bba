"""Facts shared by every family: a public key's algorithm, size and fingerprints.

``public_key_fingerprint`` is the SHA-256 of the DER SubjectPublicKeyInfo, whatever
the container (certificate, PEM or OpenSSH private key, JWK, SSH public key), so a
certificate and its private key share it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

#: RSA keys below this size are flagged ``weak-rsa``.
MIN_RSA_BITS = 2048

_OPENSSH_FINGERPRINT = re.compile(r"SHA256:([A-Za-z0-9+/]{43})=?")
_HEX_FINGERPRINT = re.compile(r"(?i)(SHA256:)?([0-9a-f]{64})")


@dataclass(frozen=True)
class KeyFacts:
    """What a public key tells: algorithm, size in bits, SPKI fingerprint, weak-key flags."""

    algorithm: str
    size: int | None
    spki_fingerprint: str
    flags: tuple[str, ...]


def sha256_fingerprint(data: bytes) -> str:
    """``SHA256:<hex>`` of ``data``."""
    return "SHA256:" + hashlib.sha256(data).hexdigest()


def public_key_facts(key: PublicKeyTypes) -> KeyFacts:
    """Algorithm, size, SPKI fingerprint and weak-key flags of ``key``."""
    algorithm, size = describe_public_key(key)
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    flags: list[str] = []
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        flags.append("weak-rsa")
    if isinstance(key, dsa.DSAPublicKey):
        flags.append("dsa")
    return KeyFacts(algorithm, size, sha256_fingerprint(spki), tuple(flags))


def private_key_facts(key: PrivateKeyTypes) -> KeyFacts:
    """:func:`public_key_facts` of the public half of ``key``."""
    return public_key_facts(key.public_key())


def describe_public_key(key: PublicKeyTypes) -> tuple[str, int | None]:
    """``("RSA", 2048)``, ``("EC secp256r1", 256)``, ``("Ed25519", 256)``, ..."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, x25519.X25519PublicKey):
        return "X25519", 256
    if isinstance(key, x448.X448PublicKey):
        return "X448", 448
    if isinstance(key, dh.DHPublicKey):
        return "DH", key.key_size
    return type(key).__name__, None


def normalise_fingerprint(text: str) -> str | None:
    """A user's fingerprint in the inventory's form ``SHA256:<hex>``, or None.

    Accepts ``SHA256:<64 hex>``, bare hex, and OpenSSH's ``SHA256:<base64>`` (what
    ``ssh-keygen -l`` prints: the SHA-256 of the key blob, as recorded in an SSH
    finding's ``fingerprint``).
    """
    text = text.strip()
    match = _HEX_FINGERPRINT.fullmatch(text)
    if match:
        return "SHA256:" + match.group(2).lower()
    match = _OPENSSH_FINGERPRINT.fullmatch(text)
    if match:
        try:
            digest = base64.b64decode(match.group(1) + "=", validate=True)
        except binascii.Error:
            return None
        if len(digest) == 32:
            return "SHA256:" + digest.hex()
    return None
