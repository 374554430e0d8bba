"""Write-only agents: credentials, the registry in the keyring, snapshot signatures.

An agent credential holds the repository id, the id key (for dedup and locks),
the recipient public key and the agent's Ed25519 signing key — never KR and
never a data key. The keyring (``extra["agents"]``) holds each agent's public
signing key and revocation time; ``extra["recipient"]`` holds the recipient
key pair.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from keyark.crypto.keyring import Keyring
from keyark.crypto.recipients import Recipient
from keyark.errors import FormatError, UsageError

CREDENTIAL_TYPE = "keyark-agent-credential"
_SIGNATURE_CONTEXT = b"keyark snapshot signature v1\x00"

#: Trust levels of a snapshot.
FULL_KEY = "full-key"
SIGNED = "signed"
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad-signature"
UNKNOWN_AGENT = "unknown-agent"
REVOKED_AGENT = "revoked-agent"
TRUSTED = (FULL_KEY, SIGNED)


@dataclass
class AgentCredential:
    """What a write-only agent holds."""

    repo_id: str
    name: str
    id_key: bytes = field(repr=False)
    recipient: Recipient
    signing_key: bytes = field(repr=False)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "type": CREDENTIAL_TYPE,
                "version": 1,
                "repository_id": self.repo_id,
                "agent": self.name,
                "id_key": self.id_key.hex(),
                "recipient": {"kind": self.recipient.kind, "public": self.recipient.public.hex()},
                "signing_key": self.signing_key.hex(),
            },
            indent=2,
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> AgentCredential:
        try:
            document = json.loads(data)
            if document.get("type") != CREDENTIAL_TYPE:
                raise ValueError("not an agent credential")
            return cls(
                repo_id=str(document["repository_id"]),
                name=str(document["agent"]),
                id_key=bytes.fromhex(document["id_key"]),
                recipient=Recipient(
                    document["recipient"]["kind"], bytes.fromhex(document["recipient"]["public"])
                ),
                signing_key=bytes.fromhex(document["signing_key"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"agent credential is malformed ({error})") from None

    def write(self, path: Path) -> None:
        """Write 0600, refusing to replace an existing file."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise UsageError(f"{path} already exists; choose another --out") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.to_bytes())

    @classmethod
    def read(cls, path: Path) -> AgentCredential:
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as error:
            raise UsageError(f"cannot read agent credential {path}: {error.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(f"agent credential {path} is readable by others; chmod 600 it")
        return cls.from_bytes(data)

    def sign(self, repo_id: str, body: bytes) -> bytes:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(self.signing_key)
        return key.sign(_SIGNATURE_CONTEXT + repo_id.encode() + b"\x00" + body)


# --------------------------------------------------------------------- signed snapshots
def wrap_signed(agent: str, body: bytes, signature: bytes) -> bytes:
    """The stored plaintext of an agent's snapshot: the body and its signature."""
    return bytes(
        msgpack.packb({"signed": body, "agent": agent, "sig": signature}, use_bin_type=True)
    )


def unwrap_signed(raw: bytes) -> tuple[bytes, str | None, bytes | None]:
    """Split a stored snapshot into (body, agent, signature); plain snapshots pass through."""
    try:
        document = msgpack.unpackb(raw, raw=False)
    except (ValueError, msgpack.UnpackException):
        raise FormatError("snapshot is malformed") from None
    if isinstance(document, dict) and "signed" in document:
        return bytes(document["signed"]), str(document.get("agent", "")), document.get("sig")
    return raw, None, None


# --------------------------------------------------------------------- registry
def recipient_of(keyring: Keyring) -> Recipient | None:
    data = keyring.extra.get("recipient")
    return Recipient.from_dict(data) if data else None


def agents_of(keyring: Keyring) -> dict[str, dict[str, Any]]:
    agents: dict[str, dict[str, Any]] = keyring.extra.setdefault("agents", {})
    return agents


def register(keyring: Keyring, name: str, signing_public: bytes) -> None:
    agents = agents_of(keyring)
    if name in agents and agents[name].get("revoked") is None:
        raise UsageError(f"agent {name!r} already exists; revoke it or choose another name")
    agents[name] = {
        "public": signing_public,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "revoked": None,
    }


def new_signing_key() -> tuple[bytes, bytes]:
    """(private raw, public raw) of a fresh Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


def trust_of(
    keyring: Keyring,
    repo_id: str,
    body: bytes,
    agent: str | None,
    signature: bytes | None,
    when: datetime,
) -> str:
    """How far a snapshot sealed with a session key can be trusted."""
    if agent is None or signature is None:
        return UNSIGNED
    entry = agents_of(keyring).get(agent)
    if entry is None:
        return UNKNOWN_AGENT
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes(entry["public"]))
    try:
        public.verify(signature, _SIGNATURE_CONTEXT + repo_id.encode() + b"\x00" + body)
    except InvalidSignature:
        return BAD_SIGNATURE
    revoked = entry.get("revoked")
    if revoked is not None and when >= datetime.fromisoformat(revoked):
        return REVOKED_AGENT
    return SIGNED


def effective_trust(
    keyring: Keyring, agent: str | None, recorded: str | None, when: datetime
) -> str:
    """Trust now: a recorded verification result, with revocations applied since."""
    if recorded is None:
        return FULL_KEY
    if recorded == SIGNED and agent is not None:
        revoked = agents_of(keyring).get(agent, {}).get("revoked")
        if revoked is not None and when >= datetime.fromisoformat(revoked):
            return REVOKED_AGENT
    return recorded
