"""SSH key files: OpenSSH private keys, PuTTY ``.ppk`` keys, public keys,
``authorized_keys`` and ``known_hosts``.

A private key's public half is read from the unencrypted part of the file (the
``openssh-key-v1`` header, PuTTY's ``Public-Lines``), so even a passphrase-protected
key gets its fingerprints; the private part is never decrypted, and read only for the
comment when it is not encrypted. Host names in ``known_hosts`` are not recorded.
"""

from __future__ import annotations

import base64
import functools
import posixpath

from keyark.inventory.finding import Finding
from keyark.inventory.ssh_wire import (
    KEY_TYPE_PREFIXES,
    SshKeyFacts,
    WireError,
    WireReader,
    decode_blob,
    ssh_key_facts,
)

#: The magic that starts an OpenSSH private key's body.
OPENSSH_MAGIC = b"openssh-key-v1\0"
#: At most this many key lines are read from one file, and names recorded.
MAX_LINES = 100_000
MAX_NAMES = 1000

#: How many strings follow the key type in the private section, per key type.
_PRIVATE_FIELDS = {"ssh-rsa": 6, "ssh-dss": 5, "ssh-ed25519": 2, "ssh-ed448": 2}
_AUTHORIZED_OPTION_WORDS = ("=", "no-", "restrict", "cert-authority", "permit")


def openssh_private_key(path: str, body: bytes) -> Finding | None:
    """The key in an ``OPENSSH PRIVATE KEY`` block's decoded ``body``, or None."""
    if not body.startswith(OPENSSH_MAGIC):
        return None
    reader = WireReader(body[len(OPENSSH_MAGIC) :])
    cipher = reader.string(64).decode("ascii", "replace")
    reader.string(64)  # KDF name
    reader.string(1024)  # KDF options (salt, rounds)
    count = reader.uint32()
    if not 1 <= count <= 16:
        return None
    blob = reader.string()
    facts = ssh_key_facts(blob)
    if facts is None:
        return None
    encrypted = cipher != "none"
    comment = None
    if not encrypted:
        for _ in range(count - 1):
            reader.string()
        comment = _private_comment(reader.string(1 << 20), facts.key_type)
    return _private_finding(path, facts, encrypted=encrypted, comment=comment, fmt="OpenSSH")


def _private_comment(section: bytes, key_type: str) -> str | None:
    fields = _PRIVATE_FIELDS.get(key_type, 3 if key_type.startswith("ecdsa-sha2-") else None)
    if fields is None:
        return None
    reader = WireReader(section)
    try:
        if reader.uint32() != reader.uint32():  # check integers differ: not a readable key
            return None
        if reader.string(256).decode("ascii") != key_type:
            return None
        for _ in range(fields):
            reader.string()
        return reader.string(4096).decode("utf-8", "replace") or None
    except (WireError, UnicodeDecodeError):
        return None


def _private_finding(
    path: str, facts: SshKeyFacts, *, encrypted: bool, comment: str | None, fmt: str
) -> Finding:
    flags = facts.flags if encrypted else ("unencrypted", *facts.flags)
    return Finding(
        kind="private_key",
        path=path,
        name=comment,
        algorithm=facts.algorithm,
        size=facts.size,
        fingerprint=facts.fingerprint,
        public_key_fingerprint=facts.spki_fingerprint,
        encrypted=encrypted,
        flags=flags,
        format=fmt,
        secret=True,
    )


def putty_findings(path: str, data: bytes) -> list[Finding]:
    """A PuTTY ``.ppk`` key (versions 2 and 3): headers and the public lines only."""
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0].startswith("PuTTY-User-Key-File-"):
        return []
    version = lines[0].split(":", 1)[0].rsplit("-", 1)[-1]
    headers: dict[str, str] = {}
    public = ""
    index = 0
    while index < len(lines):
        key, _, value = lines[index].partition(":")
        index += 1
        if key == "Public-Lines":
            count = int(value.strip())
            public = "".join(line.strip() for line in lines[index : index + min(count, 1000)])
            index += count
        elif key in ("Encryption", "Comment"):
            headers[key] = value.strip()
    blob = decode_blob(public)
    facts = None if blob is None else ssh_key_facts(blob)
    if facts is None:
        return []
    encrypted = headers.get("Encryption", "none") != "none"
    return [
        _private_finding(
            path,
            facts,
            encrypted=encrypted,
            comment=headers.get("Comment") or None,
            fmt=f"PuTTY v{version}",
        )
    ]


def key_lines(text: str) -> tuple[list[tuple[list[str], SshKeyFacts, str]], int]:
    """The valid key lines of ``text`` as (prefix tokens, facts, comment), and how many
    non-comment lines there were."""
    keys: list[tuple[list[str], SshKeyFacts, str]] = []
    lines = 0
    for raw in text.splitlines()[:MAX_LINES]:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lines += 1
        tokens = line.split()
        for index, token in enumerate(tokens[:-1]):
            if not token.startswith(KEY_TYPE_PREFIXES):
                continue
            if not tokens[index + 1].startswith(_blob_start(token)):
                continue  # its blob does not name this key type: not a key
            blob = decode_blob(tokens[index + 1])
            facts = None if blob is None else ssh_key_facts(blob)
            if facts is not None and facts.key_type == token:
                keys.append((tokens[:index], facts, " ".join(tokens[index + 2 :])))
                break
    return keys, lines


@functools.lru_cache(maxsize=256)
def _blob_start(key_type: str) -> str:
    """How the base64 of a blob of ``key_type`` starts: its first whole groups of 3 bytes
    (the type's length and name), which encode the same wherever the blob ends."""
    head = len(key_type.encode()).to_bytes(4, "big") + key_type.encode()
    return base64.b64encode(head[: len(head) // 3 * 3]).decode("ascii")


def ssh_public_findings(path: str, data: bytes) -> list[Finding]:
    """A public key file, ``authorized_keys`` or ``known_hosts`` (by name, else by shape)."""
    keys, _lines = key_lines(data.decode("utf-8", "replace"))
    if not keys:
        return []
    base = posixpath.basename(path)
    prefixes = [prefix for prefix, _facts, _comment in keys if prefix]
    if base.startswith("known_hosts") or (
        not base.startswith("authorized_keys") and prefixes and _host_prefixes(prefixes)
    ):
        return [_collection("known_hosts", path, keys, names=False)]
    if base.startswith("authorized_keys") or len(keys) > 1 or prefixes:
        return [_collection("authorized_keys", path, keys, names=True)]
    _prefix, facts, comment = keys[0]
    return [
        Finding(
            kind="ssh_public_key",
            path=path,
            name=comment or None,
            algorithm=facts.algorithm,
            size=facts.size,
            fingerprint=facts.fingerprint,
            public_key_fingerprint=facts.spki_fingerprint,
            flags=facts.flags,
            format="OpenSSH public",
        )
    ]


def _host_prefixes(prefixes: list[list[str]]) -> bool:
    first = prefixes[0][0]
    if first.startswith(("|1|", "@")):
        return True
    return not any(word in first for word in _AUTHORIZED_OPTION_WORDS)


def _collection(
    kind: str, path: str, keys: list[tuple[list[str], SshKeyFacts, str]], *, names: bool
) -> Finding:
    flags: list[str] = []
    for _prefix, facts, _comment in keys:
        flags.extend(flag for flag in facts.flags if flag not in flags)
    comments = tuple(comment for _p, _f, comment in keys if comment)[:MAX_NAMES] if names else ()
    return Finding(kind=kind, path=path, count=len(keys), names=comments, flags=tuple(flags))
