"""Key-file slots: 32 random bytes in a private file (mode 0600) unlock the repository.

The slot's key-encryption key is HKDF-SHA256 of the file's bytes with a random
per-slot salt (stored in the slot), so one key file opens only the slots made
for it and the file itself never appears in the repository.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyark.crypto.envelope import SymmetricKey
from keyark.crypto.slots import KeySlot, wrap_root_key
from keyark.errors import FormatError, UsageError

KEYFILE = "keyfile"
KEY_FILE_SIZE = 32
_INFO = b"keyark key-file slot v1"


def create_key_file(path: str | os.PathLike[str]) -> bytes:
    """Write 32 fresh random bytes to a new file (0600, never overwriting); return them."""
    secret = os.urandom(KEY_FILE_SIZE)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"key file {path} already exists; refusing to overwrite it") from None
    except OSError as error:
        raise UsageError(f"cannot create key file {path}: {error.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secret)
        os.fsync(fd)
    except OSError as error:
        os.close(fd)
        Path(path).unlink(missing_ok=True)
        raise UsageError(f"cannot write key file {path}: {error.strerror}") from None
    os.close(fd)
    return secret


def load_key_file(path: str | os.PathLike[str]) -> bytes:
    """Read a key file; refuse one that group or others can access, or of the wrong size."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as error:
        raise UsageError(f"cannot read key file {path}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise UsageError(
                f"key file {path} is accessible by group or others (mode {mode:04o}); "
                f"run 'chmod 600 {path}'"
            )
        data = os.read(fd, KEY_FILE_SIZE + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_FILE_SIZE:
        raise UsageError(
            f"{path} is not a keyark key file ({KEY_FILE_SIZE} bytes expected, "
            f"found {len(data) if len(data) <= KEY_FILE_SIZE else 'more'})"
        )
    return data


def derive_kek(secret: bytes, salt: bytes, info: bytes = _INFO) -> bytes:
    """HKDF-SHA256 of a high-entropy secret into a 32-byte key-encryption key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def key_file_slot(root: SymmetricKey, secret: bytes, label: str = "") -> KeySlot:
    """A new slot that the key file holding ``secret`` opens."""
    salt = os.urandom(16)
    return wrap_root_key(root, KEYFILE, {"salt": salt.hex()}, derive_kek(secret, salt), label)


def unlocker(secret: bytes) -> Callable[[KeySlot], bytes | None]:
    """The :class:`~keyark.crypto.slots.Credentials` unlocker for key-file slots."""

    def kek_for(slot: KeySlot) -> bytes | None:
        try:
            salt = bytes.fromhex(str(slot.params["salt"]))
        except (KeyError, ValueError) as error:
            raise FormatError(f"key slot {slot.slot_id} is malformed ({error})") from None
        return derive_kek(secret, salt)

    return kek_for
