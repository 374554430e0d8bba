"""The AEAD envelope around every encrypted blob and object.

Layout (24-byte header, then ciphertext and 16-byte tag)::

    b"KA" | version (1) | cipher (1) | key id (8) | nonce (12) | ciphertext+tag

The associated data binds the header, the object kind and the object's name (blob
id or object name), so an object moved, swapped or relabelled fails to open.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from keyark.errors import FormatError, IntegrityError

MAGIC = b"KA"
VERSION = 1
KEY_ID_SIZE = 8
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = len(MAGIC) + 2 + KEY_ID_SIZE + NONCE_SIZE
OVERHEAD = HEADER_SIZE + TAG_SIZE


class Cipher(enum.IntEnum):
    """AEAD algorithms an envelope may use."""

    AES_256_GCM = 1
    CHACHA20_POLY1305 = 2


class ObjectKind(enum.IntEnum):
    """What an envelope holds; part of the associated data."""

    DATA_BLOB = 1
    TREE_BLOB = 2
    PACK_HEADER = 3
    INDEX = 4
    SNAPSHOT = 5
    KEYRING = 6
    CONFIG = 7
    LOCK = 8
    SLOT = 9
    SESSION_KEY = 10
    CREDENTIAL = 11
    AUDIT = 12
    INVENTORY = 13


@dataclass(frozen=True, slots=True)
class SymmetricKey:
    """A 256-bit key and its public 8-byte id (never the key itself)."""

    key_id: bytes
    secret: bytes
    cipher: Cipher = Cipher.AES_256_GCM

    def __post_init__(self) -> None:
        if len(self.key_id) != KEY_ID_SIZE or len(self.secret) != 32:
            raise ValueError("a symmetric key is 32 bytes with an 8-byte id")

    def __repr__(self) -> str:  # never print the secret
        return f"SymmetricKey(key_id={self.key_id.hex()}, cipher={self.cipher.name})"

    def aead(self) -> AESGCM | ChaCha20Poly1305:
        """The primitive for this key (cached per key by :class:`Sealer`)."""
        if self.cipher is Cipher.AES_256_GCM:
            return AESGCM(self.secret)
        return ChaCha20Poly1305(self.secret)


class Sealer:
    """Encrypts and decrypts envelopes with one key; thread-safe."""

    __slots__ = ("_aead", "_prefix", "key")

    def __init__(self, key: SymmetricKey) -> None:
        self.key = key
        self._aead = key.aead()
        self._prefix = MAGIC + bytes((VERSION, int(key.cipher))) + key.key_id

    def seal(self, kind: ObjectKind, name: bytes, plaintext: bytes | memoryview) -> bytes:
        """Encrypt ``plaintext`` bound to ``kind`` and ``name``."""
        nonce = os.urandom(NONCE_SIZE)
        header = self._prefix + nonce
        aad = header + bytes((int(kind),)) + name
        return header + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, kind: ObjectKind, name: bytes, envelope: bytes | memoryview) -> bytes:
        """Decrypt and authenticate; raise :class:`IntegrityError` on any mismatch."""
        header = bytes(envelope[:HEADER_SIZE])
        if len(envelope) < OVERHEAD or header[: len(self._prefix)] != self._prefix:
            raise IntegrityError(f"{kind.name.lower()} object is not sealed with this key")
        aad = header + bytes((int(kind),)) + name
        try:
            return self._aead.decrypt(header[-NONCE_SIZE:], envelope[HEADER_SIZE:], aad)
        except InvalidTag:
            raise IntegrityError(
                f"{kind.name.lower()} object failed authentication (corrupt or tampered)"
            ) from None

    def seal_bare(self, kind: ObjectKind, name: bytes, plaintext: bytes | memoryview) -> bytes:
        """Like :meth:`seal` without the 12-byte prefix: ``nonce | ciphertext+tag``.

        Packs store blobs this way so a keyless reader finds no per-blob marker; the
        prefix (magic, version, cipher, key id) is still part of the associated data.
        """
        nonce = os.urandom(NONCE_SIZE)
        aad = self._prefix + nonce + bytes((int(kind),)) + name
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open_bare(self, kind: ObjectKind, name: bytes, bare: bytes | memoryview) -> bytes:
        """Open what :meth:`seal_bare` made, rebuilding the prefix from this key."""
        if len(bare) < NONCE_SIZE + TAG_SIZE:
            raise IntegrityError(f"{kind.name.lower()} object is too short (corrupt)")
        nonce = bytes(bare[:NONCE_SIZE])
        aad = self._prefix + nonce + bytes((int(kind),)) + name
        try:
            return self._aead.decrypt(nonce, bare[NONCE_SIZE:], aad)
        except InvalidTag:
            raise IntegrityError(
                f"{kind.name.lower()} object failed authentication (corrupt or tampered)"
            ) from None


def envelope_key_id(envelope: bytes | memoryview) -> bytes:
    """Return the key id an envelope names, checking magic and version."""
    if len(envelope) < OVERHEAD or bytes(envelope[:2]) != MAGIC:
        raise FormatError("not a keyark envelope (bad magic or too short)")
    if envelope[2] != VERSION:
        raise FormatError(f"unsupported envelope version {envelope[2]}")
    return bytes(envelope[4 : 4 + KEY_ID_SIZE])


def new_key(cipher: Cipher = Cipher.AES_256_GCM) -> SymmetricKey:
    """A fresh random key with a random id."""
    return SymmetricKey(os.urandom(KEY_ID_SIZE), os.urandom(32), cipher)
