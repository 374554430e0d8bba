"""Typed operations for write-only backup agents (the CLI and API call these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyark.backends.registry import BackendOptions
from keyark.crypto import recipients
from keyark.crypto.agents import AgentCredential, agents_of, new_signing_key, recipient_of, register
from keyark.crypto.keyring import Keyring
from keyark.errors import UsageError
from keyark.repo.agent_session import open_for_agent
from keyark.repo.repository import Repository
from keyark.storage import open_repository_backend


@dataclass(frozen=True)
class AgentInfo:
    """A registered agent as ``agent list`` shows it."""

    name: str
    created: str
    revoked: str | None
    public_key: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created,
            "revoked": self.revoked,
            "public_key": self.public_key,
        }


def _info(name: str, entry: dict[str, Any]) -> AgentInfo:
    return AgentInfo(
        name, str(entry.get("created", "")), entry.get("revoked"), bytes(entry["public"]).hex()
    )


def _require_full_key(repo: Repository) -> None:
    if repo.root_key is None or repo.agent is not None:
        raise UsageError("managing agents needs a full key (passphrase, key file, HSM)")


def _fresh_keyring(repo: Repository) -> Keyring:
    """Re-read the keyring under the lock so concurrent changes are not lost."""
    assert repo.root_key is not None
    repo.keyring = Keyring.open(repo.root_key, repo.backend.get("keyring"))
    return repo.keyring


def add_agent(
    repo: Repository, name: str, out: Path, *, rsa: bool = False, retry_lock: float = 0.0
) -> AgentInfo:
    """Register agent ``name`` and write its credential (0600) to ``out``."""
    _require_full_key(repo)
    if not name or any(c in name for c in "/\\\x00") or len(name) > 64:
        raise UsageError("agent names are 1-64 characters without slashes")
    if out.exists():
        raise UsageError(f"{out} already exists; choose another --out")
    with repo.lock("agent add", exclusive=True, retry=retry_lock):
        keyring = _fresh_keyring(repo)
        recipient = recipient_of(keyring)
        wanted = recipients.RSA_OAEP_4096 if rsa else recipients.X25519
        if recipient is None:
            recipient = recipients.generate(wanted)
            keyring.extra["recipient"] = recipient.to_dict(private=True)
        elif rsa and recipient.kind != wanted:
            raise UsageError(
                f"the repository's recipient key is {recipient.kind}; --rsa only applies "
                "when the first agent is added"
            )
        private, public = new_signing_key()
        register(keyring, name, public)
        credential = AgentCredential(
            repo.repo_id, name, keyring.id_key, recipient.public_only(), private
        )
        credential.write(out)
        try:
            repo.save_keyring()
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    return _info(name, agents_of(keyring)[name])


def list_agents(repo: Repository) -> list[AgentInfo]:
    _require_full_key(repo)
    return [_info(name, entry) for name, entry in sorted(agents_of(repo.keyring).items())]


def revoke_agent(repo: Repository, name: str, *, retry_lock: float = 0.0) -> AgentInfo:
    """Mark ``name`` revoked: its snapshots from now on are flagged."""
    _require_full_key(repo)
    with repo.lock("agent revoke", exclusive=True, retry=retry_lock):
        keyring = _fresh_keyring(repo)
        entry = agents_of(keyring).get(name)
        if entry is None:
            raise UsageError(f"no agent named {name!r}; see 'keyark agent list'")
        if entry.get("revoked") is None:
            entry["revoked"] = datetime.now(UTC).isoformat(timespec="seconds")
            repo.save_keyring()
    return _info(name, entry)


def open_agent_repository(
    url: str, credential: Path, backend_options: BackendOptions | None = None
) -> Repository:
    """Open ``url`` write-only with an agent credential file."""
    return open_for_agent(
        open_repository_backend(url, backend_options), AgentCredential.read(credential)
    )
