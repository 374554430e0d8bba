"""Opening a repository as a write-only agent.

The agent makes a fresh session data key for each run, wraps it to the
repository's recipient public key (``keys/sessions/<key-id>``), and seals
everything it writes with it. It never holds KR or a data key, cannot read the
index, and discards the session key when the run ends: not even its own
snapshots can be read back with the credential. The config is verified with the
config public key pinned in the credential before anything uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from keyark.backends.base import Backend
from keyark.crypto.agents import AgentCredential
from keyark.crypto.envelope import SymmetricKey, new_key
from keyark.crypto.keyring import DataKey, Keyring
from keyark.crypto.recipients import wrap
from keyark.errors import NotFoundError, RepositoryNotFoundError, UsageError
from keyark.repo.config import CONFIG_NAME, RepoConfig
from keyark.repo.repository import Repository, session_object_name
from keyark.repo.state_copies import verify_config_with_copy


@dataclass
class AgentSession:
    """The credential and this run's session key."""

    credential: AgentCredential
    key: SymmetricKey = field(repr=False)
    stored: bool = False

    def store(self, backend: Backend) -> None:
        """Write the wrapped session key before anything sealed with it."""
        if self.stored:
            return
        wrapped = wrap(self.credential.recipient, self.key.key_id, self.key.secret)
        backend.put(session_object_name(self.key.key_id), wrapped)
        self.stored = True


def open_for_agent(
    backend: Backend, credential: AgentCredential, config_bytes: bytes | None = None
) -> Repository:
    """A repository handle that can only write, sealing with a fresh session key.

    ``config_bytes`` are the config bytes the backend was opened with (read here when
    None); they must verify with the credential's pinned config public key, else a
    :class:`FormatError`. A credential of another repository is a :class:`UsageError`.
    """
    if config_bytes is None:
        try:
            config_bytes = backend.get(CONFIG_NAME)
        except NotFoundError:
            raise RepositoryNotFoundError(f"no repository at {backend.location()}") from None
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
    session = new_key()
    keyring = Keyring(
        id_key=credential.id_key,
        data_keys={session.key_id: DataKey(session, datetime.now(UTC).isoformat())},
    )
    repo = Repository(backend, config, keyring)
    repo.agent = AgentSession(credential, session)
    return repo
