"""The SSH wire format (RFC 4251 strings) and what an SSH public key blob tells.

An SSH key's ``fingerprint`` is the SHA-256 of its blob (what ``ssh-keygen -l`` shows,
in hex); its ``public_key_fingerprint`` is the SHA-256 of the equivalent
SubjectPublicKeyInfo, when ``cryptography`` can convert the key (not for ``sk-`` keys).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from keyark.inventory.key_facts import public_key_facts, sha256_fingerprint

#: Key type prefixes of OpenSSH public keys.
KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")
#: At most this much of a string is read (keys are a few KiB at most).
MAX_STRING = 1 << 16


class WireError(ValueError):
    """A truncated or oversized SSH wire structure."""


class WireReader:
    """Reads RFC 4251 ``uint32`` and ``string`` values from a buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def uint32(self) -> int:
        """The next big-endian 32-bit integer."""
        end = self.offset + 4
        if end > len(self.data):
            raise WireError("truncated")
        value = int.from_bytes(self.data[self.offset : end], "big")
        self.offset = end
        return value

    def string(self, max_len: int = MAX_STRING) -> bytes:
        """The next length-prefixed string."""
        length = self.uint32()
        end = self.offset + length
        if length > max_len or end > len(self.data):
            raise WireError("truncated or oversized string")
        value = self.data[self.offset : end]
        self.offset = end
        return value

    def rest(self) -> bytes:
        """Everything not read yet."""
        return self.data[self.offset :]


@dataclass(frozen=True)
class SshKeyFacts:
    """What one SSH public key blob tells."""

    key_type: str
    algorithm: str
    size: int | None
    fingerprint: str
    spki_fingerprint: str | None
    flags: tuple[str, ...]


def ssh_key_facts(blob: bytes) -> SshKeyFacts | None:
    """The facts of an SSH public key blob, or None when it is not one."""
    try:
        key_type = WireReader(blob).string(256).decode("ascii")
    except (WireError, UnicodeDecodeError):
        return None
    if not key_type.startswith(KEY_TYPE_PREFIXES):
        return None
    line = key_type.encode() + b" " + base64.b64encode(blob)
    try:
        if "-cert-v01@openssh.com" in key_type:
            key = serialization.load_ssh_public_identity(line).public_key()  # type: ignore[union-attr]
        else:
            key = serialization.load_ssh_public_key(line)
    except Exception:  # sk- keys, unknown types: recorded by type only
        return SshKeyFacts(key_type, key_type, None, sha256_fingerprint(blob), None, ())
    facts = public_key_facts(key)
    return SshKeyFacts(
        key_type,
        facts.algorithm,
        facts.size,
        sha256_fingerprint(blob),
        facts.spki_fingerprint,
        facts.flags,
    )


def decode_blob(text: str | bytes) -> bytes | None:
    """Strict base64 of a key blob, or None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
