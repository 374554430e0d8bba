"""Decrypting the seed system's ``openssl enc -aes-256-cbc`` archives, as a stream.

The file is OpenSSL's salted format: ``Salted__``, 8 bytes of salt, then AES-256-CBC
ciphertext with PKCS#7 padding. The key and IV come from the password (the first line
of the key file, as ``-pass file:backup_master.key`` reads it) by one of:

- ``pbkdf2``: PBKDF2-HMAC-SHA256, 10,000 iterations (``-pbkdf2``, OpenSSL 1.1.1+);
- ``md5``: ``EVP_BytesToKey`` with MD5 (``-md md5``, and OpenSSL before 1.1.0);
- ``sha256``: ``EVP_BytesToKey`` with SHA-256 (OpenSSL 1.1.0+ without ``-pbkdf2``).

The archive does not record which was used: unless one is forced, each is tried on the
first kilobyte and the one whose plaintext starts like an archive (gzip, zstd, zip or
a tar header) is used. Built from ``cryptography``'s primitives; nothing is decrypted
to disk.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from keyark.errors import ArchiveDecryptionError, Hint, UsageError
from keyark.exchange.streams import sniff

#: Key derivations tried, in order.
KDFS = ("pbkdf2", "md5", "sha256")
MAGIC = b"Salted__"
#: OpenSSL's default iteration count with ``-pbkdf2``.
PBKDF2_ITERATIONS = 10_000
#: How much of a key file OpenSSL reads as the password (``APP_PASS_LEN`` - 1).
_PASS_MAX = 1023
_PROBE = 1024
_BLOCK = 16


def is_openssl_encrypted(head: bytes) -> bool:
    """Whether a file starting with ``head`` is in OpenSSL's salted ``enc`` format."""
    return head.startswith(MAGIC)


def read_password(path: str) -> bytes:
    """The password ``openssl enc -pass file:PATH`` uses: the file's first line."""
    try:
        data = Path(path).read_bytes()[:_PASS_MAX]
    except OSError as error:
        raise UsageError(f"cannot read the key file {path}: {error.strerror or error}") from None
    password = data.split(b"\n", 1)[0].split(b"\0", 1)[0]
    if not password:
        raise UsageError(f"the key file {path} is empty")
    return password


def derive(kdf: str, password: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """(key, iv) for AES-256-CBC by ``kdf``."""
    if kdf == "pbkdf2":
        material = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=48, salt=salt, iterations=PBKDF2_ITERATIONS
        ).derive(password)
    elif kdf in ("md5", "sha256"):
        material = _bytes_to_key(kdf, password, salt)
    else:
        raise UsageError(f"unknown key derivation {kdf!r} (use {', '.join(KDFS)})")
    return material[:32], material[32:48]


def _bytes_to_key(digest: str, password: bytes, salt: bytes) -> bytes:
    """OpenSSL's ``EVP_BytesToKey`` with one iteration (what ``enc`` uses): 48 bytes."""
    material, block = b"", b""
    while len(material) < 48:
        block = hashlib.new(digest, block + password + salt, usedforsecurity=False).digest()
        material += block
    return material


class _Decrypting(io.RawIOBase):
    """AES-256-CBC decryption of a stream, PKCS#7 padding removed at its end."""

    def __init__(self, source: BinaryIO, first: bytes, key: bytes, iv: bytes, what: str) -> None:
        self._source = source
        self._pending = first
        self._decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        self._unpadder = padding.PKCS7(128).unpadder()
        self._buffer = b""
        self._done = False
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            chunk = self._pending or self._source.read(1 << 16)
            self._pending = b""
            if chunk:
                self._buffer = self._unpadder.update(self._decryptor.update(chunk))
                continue
            self._done = True
            try:
                self._buffer = self._unpadder.update(self._decryptor.finalize())
                self._buffer += self._unpadder.finalize()
            except ValueError:
                raise ArchiveDecryptionError(
                    f"{self._what} does not decrypt with the key file (bad padding: a wrong "
                    "key or a damaged file)",
                    hint=Hint.OPENSSL_KEY,
                ) from None
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def open_decrypted(stream: BinaryIO, password: bytes, kdf: str | None, what: str) -> BinaryIO:
    """The plaintext of the salted ``enc`` file ``stream`` as a stream.

    ``kdf`` forces a key derivation; None tries each (see the module docstring).
    """
    header = stream.read(16)
    if len(header) < 16 or not header.startswith(MAGIC):
        raise ArchiveDecryptionError(f"{what} is not an OpenSSL salted enc file")
    salt = header[8:]
    probe = stream.read(_PROBE)
    if not probe or len(probe) % _BLOCK:
        raise ArchiveDecryptionError(f"{what} is damaged (its ciphertext is cut short)")
    candidates = [kdf] if kdf is not None else list(KDFS)
    for name in candidates:
        key, iv = derive(name, password, salt)
        if kdf is not None or _looks_like_archive(key, iv, probe):
            return io.BufferedReader(_Decrypting(stream, probe, key, iv, what))
    raise ArchiveDecryptionError(
        f"{what} does not decrypt to an archive with the key file by any of "
        f"{', '.join(KDFS)} (a wrong key file?)",
        hint=Hint.OPENSSL_KEY,
    )


def _looks_like_archive(key: bytes, iv: bytes, probe: bytes) -> bool:
    plain = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor().update(probe)
    if sniff(plain) != "tar":
        return True
    return len(plain) >= 512 and _tar_checksum_ok(plain[:512])


def _tar_checksum_ok(header: bytes) -> bool:
    """Whether a 512-byte block is a tar header (its checksum field agrees)."""
    field = header[148:156].split(b"\0", 1)[0].strip()
    try:
        stored = int(field or b"x", 8)
    except ValueError:
        return False
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    return stored == unsigned


__all__ = [
    "KDFS",
    "PBKDF2_ITERATIONS",
    "derive",
    "is_openssl_encrypted",
    "open_decrypted",
    "read_password",
]
