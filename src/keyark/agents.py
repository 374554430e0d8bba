"""Write-only backup agents: register, list, revoke, and open a repository as one.

The agent operations of the catalogue (:mod:`keyark.ops.agents`) run these on an
opened repository; a registration or revocation changes the keyring under an
exclusive lock (waiting ``ctx.lock_wait`` for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keyark.backends.registry import BackendOptions
from keyark.context import OperationContext
from keyark.crypto import recipients
from keyark.crypto.agent_registry import (
    accepted_of,
    agents_of,
    hosts_of,
    recipient_of,
    register,
    revoke,
)
from keyark.crypto.agents import (
    SIGNED,
    AgentCredential,
    check_agent_name,
    check_hosts,
    new_signing_key,
)
from keyark.crypto.keyring import Keyring
from keyark.errors import (
    BackendError,
    Hint,
    IntegrityError,
    RepositoryNotFoundError,
    UsageError,
)
from keyark.events import Code
from keyark.repo.agent_session import AgentRepository, open_for_agent
from keyark.repo.repository import Repository
from keyark.repo.snapshot_trust import AGENT, snapshot_trust
from keyark.storage import open_repository_storage


@dataclass(frozen=True)
class AgentInfo:
    """A registered agent as ``agent list`` shows it."""

    name: str
    created: str
    revoked: str | None
    public_key: str
    hosts: list[str] = field(default_factory=list)
    #: How many of its snapshots stayed trusted when it was revoked.
    accepted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _info(name: str, entry: dict[str, Any]) -> AgentInfo:
    public = entry.get("public")
    revoked = entry.get("revoked")
    return AgentInfo(
        name,
        str(entry.get("created", "")),
        revoked if isinstance(revoked, str) else None,
        public.hex() if isinstance(public, bytes) else "",
        hosts_of(entry),
        len(accepted_of(entry)),
    )


def _require_full_key(repo: Repository) -> None:
    if repo.keys.root_key is None:
        raise UsageError("managing agents needs a full key (passphrase, key file, HSM)")


def _fresh_keyring(repo: Repository) -> Keyring:
    """Re-read the keyring under the lock so concurrent changes are not lost."""
    repo.refresh_keys()  # ``keyring``, or its copy if damaged (issue 9)
    return repo.keys.keyring


def add_agent(
    repo: Repository,
    name: str,
    out: Path,
    *,
    hosts: Sequence[str] = (),
    rsa: bool = False,
    ctx: OperationContext | None = None,
) -> AgentInfo:
    """Register agent ``name`` for ``hosts`` (default: the name) and write its credential
    (0600) to ``out``. Agent names are never re-used, even after revocation."""
    if out.exists():
        raise UsageError(f"{out} already exists; choose another output path")
    info, _ = _register_agent(repo, name, hosts, rsa, ctx, out)
    return info


def add_agent_credential(
    repo: Repository,
    name: str,
    *,
    hosts: Sequence[str] = (),
    rsa: bool = False,
    ctx: OperationContext | None = None,
) -> tuple[AgentInfo, bytes]:
    """Register agent ``name`` as :func:`add_agent` does, but return its credential (the
    file's content) instead of writing it anywhere: for a caller that hands it on."""
    return _register_agent(repo, name, hosts, rsa, ctx, None)


def _register_agent(
    repo: Repository,
    name: str,
    hosts: Sequence[str],
    rsa: bool,
    ctx: OperationContext | None,
    out: Path | None,
) -> tuple[AgentInfo, bytes]:
    """Register the agent under the lock; its credential is written to ``out`` (if any)
    before the keyring is saved (and removed if saving fails) and returned."""
    _require_full_key(repo)
    check_agent_name(name)
    allowed = check_hosts(list(hosts) or [name])
    ctx = ctx or OperationContext()
    with repo.lock("agent add", exclusive=True, retry=ctx.lock_wait):
        keyring = _fresh_keyring(repo)
        recipient = recipient_of(keyring)
        wanted = recipients.RSA_OAEP_4096 if rsa else recipients.X25519
        if recipient is None:
            recipient = recipients.generate(wanted)
            keyring.extra["recipient"] = recipient.to_dict(private=True)
        elif rsa and recipient.kind != wanted:
            raise UsageError(
                f"the repository's recipient key is {recipient.kind}; choosing RSA only "
                "applies when the first agent is added"
            )
        private, public = new_signing_key()
        register(keyring, name, public, allowed)
        credential = AgentCredential(
            repo.repo_id,
            name,
            keyring.id_key,
            recipient.public_only(),
            private,
            config_public=keyring.config_public_key,
            hosts=allowed,
        )
        if out is not None:
            credential.write(out)
        try:
            repo.keys.save_keyring()
        except BaseException:
            if out is not None:
                out.unlink(missing_ok=True)
            raise
    return _info(name, agents_of(keyring)[name]), credential.to_bytes()


def list_agents(repo: Repository) -> list[AgentInfo]:
    """Every registered agent, by name (revoked ones included)."""
    _require_full_key(repo)
    return [_info(name, entry) for name, entry in sorted(agents_of(repo.keys.keyring).items())]


def revoke_agent(repo: Repository, name: str, *, ctx: OperationContext | None = None) -> AgentInfo:
    """Revoke ``name``: its snapshots trusted now stay trusted (their ids are recorded in
    the keyring); every other snapshot it wrote or writes is flagged, whatever its time."""
    _require_full_key(repo)
    ctx = ctx or OperationContext()
    with repo.lock("agent revoke", exclusive=True, retry=ctx.lock_wait):
        keyring = _fresh_keyring(repo)
        entry = agents_of(keyring).get(name)
        if entry is None:
            raise UsageError(f"no agent named {name!r}", hint=Hint.AGENT_LIST)
        if entry.get("revoked") is None:
            revoke(keyring, name, _trusted_snapshots_of(repo, name, ctx))
            repo.keys.save_keyring()
    return _info(name, entry)


def _trusted_snapshots_of(repo: Repository, name: str, ctx: OperationContext) -> list[str]:
    """Ids of the agent's snapshots that are trusted now (read under the lock)."""
    accepted = []
    for snapshot_id in repo.snapshots.ids():
        ctx.cancel.check()
        try:
            snapshot = repo.snapshots.load(snapshot_id)
        except (IntegrityError, BackendError) as error:
            ctx.events.warn(
                Code.SNAPSHOT_DAMAGED,
                f"snapshot {snapshot_id[:8]} cannot be read and stays untrusted: {error}",
                subject=snapshot_id,
            )
            continue
        if (
            snapshot.extra.get(AGENT) == name
            and snapshot_trust(repo.keys.keyring, snapshot) == SIGNED
        ):
            accepted.append(snapshot.id)
    return accepted


def open_agent_repository(
    url: str, credential: Path, backend_options: BackendOptions | None = None
) -> AgentRepository:
    """Open ``url`` write-only with an agent credential file."""
    agent = AgentCredential.read(credential)
    backend, config_bytes = open_repository_storage(url, backend_options)
    try:
        if config_bytes is None:
            raise RepositoryNotFoundError(f"no repository at {backend.location()}", hint=Hint.INIT)
        return open_for_agent(backend, agent, config_bytes)
    except BaseException:
        backend.close()
        raise
