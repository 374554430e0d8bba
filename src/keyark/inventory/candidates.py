"""Which files are worth parsing: a cheap test on name, size and first bytes.

The backup calls :func:`is_candidate` for every file; only candidates are read whole
and handed to the recognisers, so ordinary files cost a few string comparisons.
"""

from __future__ import annotations

#: Files larger than this are never parsed (1 MiB: a CA bundle of ~200 KiB still is).
MAX_CANDIDATE_SIZE = 1 << 20
#: How many leading bytes :func:`is_candidate` looks at.
HEAD_BYTES = 64

_SUFFIXES = (
    ".pem",
    ".crt",
    ".cer",
    ".cert",
    ".der",
    ".key",
    ".p12",
    ".pfx",
    ".ppk",
    ".jks",
    ".jwk",
    ".jwks",
    ".json",
    ".env",
    ".kubeconfig",
    ".pub",
    ".gpg",
    ".kbx",
    ".asc",
)
_NAMES = frozenset(
    {
        "authorized_keys",
        "authorized_keys2",
        "known_hosts",
        "known_hosts2",
        "pubring.gpg",
        "secring.gpg",
        "pubring.kbx",
        "trustedkeys.kbx",
        "trustedkeys.gpg",
        "kubeconfig",
        ".env",
    }
)
_PREFIXES = (".env.", "id_", "authorized_keys", "known_hosts")
_HEADS = (
    b"-----BEGIN",
    b"openssh-key-v1",
    b"PuTTY-User-Key-File",
    b"ssh-",
    b"ecdsa-",
    b"sk-ssh-",
    b"sk-ecdsa-",
    b"{",
    b"apiVersion",
    b"Bag Attributes",
    b"|1|",
    b"@cert-authority",
    b"@revoked",
)
_HEAD_FIRST_BYTES = frozenset(head[0] for head in _HEADS)
_WHITESPACE = frozenset(b" \t\r\n")
#: The magic number that starts a Java KeyStore.
JKS_HEAD = b"\xfe\xed\xfe\xed"
#: Second bytes of a DER SEQUENCE with a long length (certificates, keys, PKCS#12).
_DER_LENGTHS = (b"\x81", b"\x82", b"\x83")
#: OpenPGP packet tags that start a keyring: secret key (5), public key (6).
_OPENPGP_KEY_TAGS = frozenset({5, 6})


def is_candidate(name: str, size: int, head: bytes) -> bool:
    """Whether a file may hold key material: worth reading whole and parsing.

    ``name`` is the file's path (or base name; ``config`` counts only under ``.kube``),
    ``size`` its size, ``head`` its first bytes (:data:`HEAD_BYTES` are enough).
    Files above :data:`MAX_CANDIDATE_SIZE` or empty are never candidates.
    """
    if size <= 0 or size > MAX_CANDIDATE_SIZE:
        return False
    base = name[name.rfind("/") + 1 :]
    lower = base.lower()
    if lower.endswith(_SUFFIXES) or lower in _NAMES or lower.startswith(_PREFIXES):
        return True
    if base == "config" and name.endswith(".kube/config"):
        return True
    if not head:
        return False
    if head[0] in _WHITESPACE:
        head = head.lstrip()
        if not head:
            return False
    first = head[0]
    if first == 0x30:
        return head[1:2] in _DER_LENGTHS
    if first & 0x80:
        return head.startswith(JKS_HEAD) or openpgp_key_packet(head)
    if first in _HEAD_FIRST_BYTES and head.startswith(_HEADS):
        return True
    return head[8:12] == b"KBXf"


def openpgp_key_packet(head: bytes) -> bool:
    """Whether ``head`` starts with an OpenPGP public or secret key packet (version 3-5)."""
    if len(head) < 7 or not head[0] & 0x80:
        return False
    if head[0] & 0x40:  # new format: tag in the low 6 bits, then a 1, 2 or 5 octet length
        tag = head[0] & 0x3F
        first = head[1]
        version_at = 2 if first < 192 else 3 if first < 224 else 6 if first == 255 else -1
    else:  # old format: tag in bits 5-2, length type in bits 1-0 (1, 2 or 4 octets)
        tag = (head[0] >> 2) & 0x0F
        length_type = head[0] & 0x03
        version_at = {0: 2, 1: 3, 2: 5}.get(length_type, -1)
    return tag in _OPENPGP_KEY_TAGS and version_at > 0 and head[version_at] in (3, 4, 5)
