"""The detached signature of an export: an Ed25519 statement signed by the repository.

Trust model. The signing key is derived from the repository's id key (part of the
keyring, unchanged by key and root rotations): ``HKDF-SHA256(id key, "keyark export
signing")`` is an Ed25519 private key, so every export of one repository is signed by
the same key and nothing new is stored. Its public key is not secret; the sender shows
it (``export key``) and the receiver pins it once, over a channel they trust (in person,
a signed mail, a ticket), then verifies each archive against the pinned key. A
signature checked only against the key it carries proves nothing about its origin, so
verification without a pinned key says so.

The signature file (``ARCHIVE.sig``) is JSON: a statement (what was exported, from
which repository, the archive's SHA-256 and size, the SHA-256 of each manifest file as
written beside it) and an Ed25519 signature over its canonical bytes (sorted keys, no
whitespace).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyark.errors import FormatError, UsageError

#: What a signature file says it is.
SIGNATURE_TYPE = "keyark-export-signature"
SIGNATURE_VERSION = 1
#: The suffix of the signature file beside the archive.
SIGNATURE_SUFFIX = ".sig"
#: The prefix of a printed public key (``ed25519:<64 hex digits>``).
KEY_PREFIX = "ed25519:"
_MAX_SIGNATURE_FILE = 1024 * 1024


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class ExportSigner:
    """Signs export statements with the key derived from a repository's id key."""

    def __init__(self, id_key: bytes) -> None:
        seed = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"keyark export signing"
        ).derive(id_key)
        self._key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)

    def __repr__(self) -> str:
        return f"ExportSigner({self.public_key})"

    @property
    def public_key(self) -> str:
        """The public key as printed and pinned: ``ed25519:<hex>``."""
        return KEY_PREFIX + self._key.public_key().public_bytes_raw().hex()

    def sign(self, statement: dict[str, Any]) -> bytes:
        """The signature file of ``statement`` (JSON, newline-terminated)."""
        body = {
            "type": SIGNATURE_TYPE,
            "version": SIGNATURE_VERSION,
            **statement,
            "public_key": self.public_key,
        }
        signature = self._key.sign(_canonical(body)).hex()
        return json.dumps({**body, "signature": signature}, indent=2, sort_keys=True).encode() + (
            b"\n"
        )


def parse_public_key(text: str) -> bytes:
    """The raw key of ``ed25519:<hex>`` (the prefix may be left out); UsageError if bad."""
    value = text.strip()
    if value.startswith(KEY_PREFIX):
        value = value[len(KEY_PREFIX) :]
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise UsageError(
            "the public key must be 'ed25519:' followed by 64 hex digits (as export key prints)"
        )
    return raw


@dataclass(frozen=True)
class SignedStatement:
    """A signature file whose signature verified against the key it carries."""

    statement: dict[str, Any]
    #: ``ed25519:<hex>`` of the key that signed it.
    public_key: str


def open_signature(data: bytes, what: str) -> SignedStatement:
    """Parse a signature file and check its signature with the key it names.

    FormatError when it is not one; :class:`InvalidSignatureError` when the signature
    does not verify. Whether that key is the expected one is the caller's question.
    """
    if len(data) > _MAX_SIGNATURE_FILE:
        raise FormatError(f"{what} is too large to be a signature file")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise FormatError(f"{what} is not a keyark export signature (not JSON)") from None
    if not isinstance(document, dict) or document.get("type") != SIGNATURE_TYPE:
        raise FormatError(f"{what} is not a keyark export signature")
    if document.get("version") != SIGNATURE_VERSION:
        raise FormatError(f"{what} has an unknown version {document.get('version')!r}")
    signature, key = document.pop("signature", None), document.get("public_key")
    if not isinstance(signature, str) or not isinstance(key, str):
        raise FormatError(f"{what} lacks its signature or public key")
    try:
        raw = parse_public_key(key)
        public = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        public.verify(bytes.fromhex(signature), _canonical(document))
    except (InvalidSignature, ValueError, UsageError):
        raise InvalidSignatureError(f"the signature in {what} does not verify") from None
    return SignedStatement(document, KEY_PREFIX + raw.hex())


class InvalidSignatureError(Exception):
    """A signature file's signature does not verify (turned into a face-neutral error)."""


__all__ = [
    "KEY_PREFIX",
    "SIGNATURE_SUFFIX",
    "ExportSigner",
    "InvalidSignatureError",
    "SignedStatement",
    "open_signature",
    "parse_public_key",
]
