"""Write-only agents: the credential, snapshot signatures and the trust values.

An agent credential (format 2, design D6) holds the repository id, the agent's
name and the host names it may claim, the id key (for dedup and locks), the
recipient public key, the agent's Ed25519 signing key and the pinned config
public key — never KR, a data key or the recipient private key. The registry
of agents in the keyring is :mod:`keyark.crypto.agent_registry`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from keyark.crypto.recipients import RSA_OAEP_4096, X25519, Recipient
from keyark.crypto.slots import parse_hex
from keyark.errors import FormatError, Hint, UsageError

CREDENTIAL_TYPE = "keyark-agent-credential"
CREDENTIAL_VERSION = 2
_SIGNATURE_CONTEXT = b"keyark snapshot signature v2\x00"

#: Trust values of a snapshot (design D9).
FULL_KEY = "full-key"
SIGNED = "signed"
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad-signature"
UNKNOWN_AGENT = "unknown-agent"
REVOKED_AGENT = "revoked-agent"
FOREIGN_HOST = "foreign-host"
TRUSTED = (FULL_KEY, SIGNED)
FLAGGED = (UNSIGNED, BAD_SIGNATURE, UNKNOWN_AGENT, REVOKED_AGENT, FOREIGN_HOST)
TRUST_VALUES = TRUSTED + FLAGGED

MAX_NAME = 64
MAX_HOST = 255
MAX_HOSTS = 64
_KEY_SIZE = 32
_SIGNATURE_SIZE = 64
_RECIPIENT_SIZES = {X25519: (32, 32), RSA_OAEP_4096: (256, 1024)}


def check_agent_name(name: object) -> str:
    """Return ``name`` if it is a valid agent name; UsageError otherwise."""
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= MAX_NAME
        or any(c in "/\\" or not c.isprintable() for c in name)
    ):
        raise UsageError("agent names are 1-64 printable characters without slashes")
    return name


def check_host_name(host: object) -> str:
    """Return ``host`` if it is a valid host name to register; UsageError otherwise."""
    if not isinstance(host, str) or not 1 <= len(host) <= MAX_HOST or not host.isprintable():
        raise UsageError("host names are 1-255 printable characters")
    return host


def check_hosts(hosts: Sequence[object]) -> list[str]:
    """Validated, de-duplicated host names (1 to 64 of them), in order."""
    if isinstance(hosts, str | bytes) or not 1 <= len(hosts) <= MAX_HOSTS:
        raise UsageError(f"an agent is registered for 1 to {MAX_HOSTS} host names")
    checked: list[str] = []
    for host in hosts:
        name = check_host_name(host)
        if name not in checked:
            checked.append(name)
    return checked


@dataclass
class AgentCredential:
    """What a write-only agent holds (credential format 2)."""

    repo_id: str
    name: str
    id_key: bytes = field(repr=False)
    recipient: Recipient
    signing_key: bytes = field(repr=False)
    config_public: bytes = b""
    hosts: list[str] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "type": CREDENTIAL_TYPE,
                "version": CREDENTIAL_VERSION,
                "repository_id": self.repo_id,
                "agent": self.name,
                "hosts": self.hosts,
                "id_key": self.id_key.hex(),
                "recipient": {"kind": self.recipient.kind, "public": self.recipient.public.hex()},
                "signing_key": self.signing_key.hex(),
                "config_public_key": self.config_public.hex(),
            },
            indent=2,
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> AgentCredential:
        """Parse and validate every field; UsageError naming the bad field otherwise."""
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            raise UsageError("agent credential is not valid JSON; ask for a new one") from None
        if not isinstance(document, dict) or document.get("type") != CREDENTIAL_TYPE:
            raise UsageError("this file is not a keyark agent credential")
        if document.get("version") != CREDENTIAL_VERSION:
            raise UsageError(
                f"agent credential version {_shown(document.get('version'))} is not supported "
                f"(this keyark reads version {CREDENTIAL_VERSION})",
                hint=Hint.AGENT_ADD,
            )
        repo_id = _hex_field(document, "repository_id", 32).hex()
        recipient = document.get("recipient")
        kind = recipient.get("kind") if isinstance(recipient, dict) else None
        if (
            not isinstance(recipient, dict)
            or not isinstance(kind, str)
            or kind not in _RECIPIENT_SIZES
        ):
            raise UsageError("agent credential field 'recipient' is malformed")
        low, high = _RECIPIENT_SIZES[kind]
        public = _hex_field(recipient, "public", None)
        if not low <= len(public) <= high:
            raise UsageError("agent credential field 'recipient' is malformed")
        signing_key = _hex_field(document, "signing_key", _KEY_SIZE)
        config_public = _hex_field(document, "config_public_key", _KEY_SIZE)
        try:
            name = check_agent_name(document.get("agent"))
            hosts = document.get("hosts")
            if not isinstance(hosts, list):
                raise UsageError("no hosts")
            hosts = check_hosts(hosts)
        except UsageError:
            raise UsageError("agent credential field 'agent' or 'hosts' is malformed") from None
        return cls(
            repo_id=repo_id,
            name=name,
            id_key=_hex_field(document, "id_key", _KEY_SIZE),
            recipient=Recipient(kind, public),
            signing_key=signing_key,
            config_public=config_public,
            hosts=hosts,
        )

    def write(self, path: Path) -> None:
        """Write 0600, refusing to replace an existing file."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise UsageError(f"{path} already exists; choose another output path") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.to_bytes())

    @classmethod
    def read(cls, path: Path) -> AgentCredential:
        """Read a credential file; refuse one readable by group or others."""
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as error:
            raise UsageError(f"cannot read agent credential {path}: {error.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(f"agent credential {path} is readable by others; chmod 600 it")
        return cls.from_bytes(data)

    def sign(self, repo_id: str, body: bytes) -> bytes:
        """Sign a snapshot body for repository ``repo_id``."""
        key = ed25519.Ed25519PrivateKey.from_private_bytes(self.signing_key)
        return key.sign(_signed_message(repo_id, body))

    def choose_host(self, requested: str | None, hostname: str) -> str:
        """The host an agent backup claims: ``requested`` (must be registered), else
        this machine's name if registered, else the agent's only registered host."""
        if requested is not None:
            if requested not in self.hosts:
                raise UsageError(
                    f"agent {self.name!r} is not registered for host {requested!r} "
                    f"(registered: {', '.join(self.hosts)}); a full-key holder can register "
                    "a new agent for it",
                    hint=Hint.AGENT_ADD,
                )
            return requested
        if hostname in self.hosts:
            return hostname
        if len(self.hosts) == 1:
            return self.hosts[0]
        raise UsageError(
            f"this machine's host name is not one agent {self.name!r} is registered for "
            f"(registered: {', '.join(self.hosts)})",
            hint=Hint.AGENT_HOST,
        )


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, int) and not isinstance(value, bool) else "(missing)"


def _hex_field(document: dict[str, Any], key: str, size: int | None) -> bytes:
    try:
        return parse_hex(document.get(key), key, length=size)
    except FormatError:
        raise UsageError(f"agent credential field {key!r} is malformed") from None


def _signed_message(repo_id: str, body: bytes) -> bytes:
    return _SIGNATURE_CONTEXT + repo_id.encode() + b"\x00" + body


def new_signing_key() -> tuple[bytes, bytes]:
    """(private raw, public raw) of a fresh Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


def signature_valid(public: bytes, repo_id: str, body: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the agent key ``public``'s signature of ``body``."""
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(public)
        key.verify(signature, _signed_message(repo_id, body))
    except (InvalidSignature, ValueError):
        return False
    return True


# --------------------------------------------------------------------- signed snapshots
def wrap_signed(agent: str, body: bytes, signature: bytes) -> bytes:
    """The stored plaintext of an agent's snapshot: the body and its signature."""
    return bytes(
        msgpack.packb({"signed": body, "agent": agent, "sig": signature}, use_bin_type=True)
    )


def unwrap_signed(raw: bytes, what: str) -> tuple[bytes, str | None, bytes | None]:
    """Split a stored snapshot into (body, agent, signature); plain snapshots pass through.

    A wrapper with a field of the wrong type is a FormatError naming ``what``.
    """
    try:
        document = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException):
        raise FormatError(f"{what} is not valid msgpack: the object is malformed") from None
    if not isinstance(document, dict) or "signed" not in document:
        return raw, None, None
    body, agent, signature = document.get("signed"), document.get("agent"), document.get("sig")
    if (
        not isinstance(body, bytes)
        or not isinstance(agent, str)
        or not 1 <= len(agent) <= MAX_NAME
        or not isinstance(signature, bytes)
        or len(signature) != _SIGNATURE_SIZE
    ):
        raise FormatError(f"{what} has a malformed agent signature wrapper")
    return body, agent, signature
