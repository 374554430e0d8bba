"""Opening a repository as a write-only agent: :class:`AgentRepository`.

The agent makes a fresh session data key for each run, wraps it to the
repository's recipient public key (``keys/sessions/<key-id>``), and seals
everything it writes with it. It never holds KR or a data key, cannot read the
index, and discards the session key when the run ends: not even its own
snapshots can be read back with the credential. The config is verified with the
config public key pinned in the credential before anything uses it.

The type says so: an :class:`AgentRepository` has the write path only (save
blobs, flush, save a signed snapshot, store its session key, take locks) and
no method that reads or changes keys; the wrapped session key is stored before
the first object sealed with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from keyark.backends.base import Backend
from keyark.crypto.agents import AgentCredential, wrap_signed
from keyark.crypto.envelope import Sealer, SymmetricKey, new_key
from keyark.crypto.recipients import wrap
from keyark.errors import Hint, NotFoundError, RepositoryNotFoundError, UsageError
from keyark.repo.blob_writer import BlobWriter
from keyark.repo.config import CONFIG_NAME, BlobHasher, RepoConfig
from keyark.repo.handle import RepositoryHandle
from keyark.repo.keys import session_object_name
from keyark.repo.pack_store import PackStore
from keyark.repo.packer import AGENT_PACKS_PER_FILE
from keyark.repo.snapshot import Snapshot
from keyark.repo.snapshot_store import SnapshotWriter
from keyark.repo.state_copies import verify_config_with_copy


@dataclass
class AgentSession:
    """The credential and this run's session key."""

    credential: AgentCredential
    key: SymmetricKey = field(repr=False)
    stored: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def store(self, backend: Backend) -> None:
        """Write the wrapped session key before anything sealed with it (once)."""
        with self._lock:
            if self.stored:
                return
            wrapped = wrap(self.credential.recipient, self.key.key_id, self.key.secret)
            backend.put(session_object_name(self.key.key_id), wrapped)
            self.stored = True


class AgentSnapshotWriter(SnapshotWriter):
    """Saves snapshots signed with the agent's key (design D9)."""

    def __init__(
        self, backend: Backend, blobs: BlobWriter, repo_id: str, credential: AgentCredential
    ) -> None:
        super().__init__(backend, blobs, repo_id)
        self._credential = credential

    def document(self, snapshot: Snapshot) -> bytes:
        """The snapshot wrapped with the agent's name and signature."""
        body = snapshot.to_bytes()
        signature = self._credential.sign(self.repo_id, body)
        return wrap_signed(self._credential.name, body, signature)


class AgentRepository(RepositoryHandle[BlobWriter, SnapshotWriter]):
    """A repository opened write-only by an agent, sealing with a fresh session key."""

    def __init__(self, backend: Backend, config: RepoConfig, session: AgentSession) -> None:
        credential = session.credential
        super().__init__(backend, config, credential.id_key)
        self.session = session
        self._sealer = Sealer(session.key)
        packs = PackStore(backend, self._session_sealer)
        self.blobs = BlobWriter(
            packs,
            self.locks,
            BlobHasher(credential.id_key, config.profile),
            self._session_sealer,
            config.pack_size,
            trusted=False,  # its packs never satisfy a full-key writer's dedup (design D7)
            packs_per_index=AGENT_PACKS_PER_FILE,  # a killed run's packs stay reusable
        )
        self.snapshots = AgentSnapshotWriter(backend, self.blobs, config.repo_id, credential)

    def _session_sealer(self) -> Sealer:
        """The session key's sealer; its wrapped key is stored before its first use."""
        self.session.store(self._backend)
        return self._sealer

    def store_session_key(self) -> None:
        """Store the wrapped session key now (it is also stored before the first write)."""
        self.session.store(self._backend)

    @property
    def credential(self) -> AgentCredential:
        """The agent's credential (its name, hosts and signing key)."""
        return self.session.credential

    @property
    def sealing_key(self) -> bytes:
        """The id of this run's session key (it seals everything the agent writes)."""
        return self.session.key.key_id

    def refresh_keys(self) -> bool:
        """Nothing to refresh: the session key is the agent's own (False)."""
        return False

    def require_current_key(self, key_id: bytes) -> None:
        """Nothing to check: no rotation replaces an agent's session key."""


def open_for_agent(
    backend: Backend, credential: AgentCredential, config_bytes: bytes | None = None
) -> AgentRepository:
    """A repository handle that can only write, sealing with a fresh session key.

    ``config_bytes`` are the config bytes the backend was opened with (read here when
    None); they must verify with the credential's pinned config public key, else a
    :class:`FormatError`. A credential of another repository is a :class:`UsageError`.
    """
    if config_bytes is None:
        try:
            config_bytes = backend.get(CONFIG_NAME)
        except NotFoundError:
            raise RepositoryNotFoundError(
                f"no repository at {backend.location()}", hint=Hint.INIT
            ) from None
    public = RepoConfig.peek(config_bytes)
    if public.get("id") != credential.repo_id:
        raise UsageError(
            "this agent credential belongs to another repository "
            f"({credential.repo_id[:10]}, not {str(public.get('id'))[:10]})"
        )
    # Verified with the config public key pinned in the credential (design D2, D6):
    # storage cannot change a setting the agent obeys (pack size, Object Lock, ...).
    # A damaged ``config`` falls back to its verified copy ``config.bak`` (issue 9).
    config, _used = verify_config_with_copy(
        backend,
        config_bytes,
        lambda data: RepoConfig.from_bytes(data, credential.id_key, credential.config_public),
    )
    return AgentRepository(backend, config, AgentSession(credential, new_key()))


__all__ = ["AgentRepository", "AgentSession", "AgentSnapshotWriter", "open_for_agent"]
