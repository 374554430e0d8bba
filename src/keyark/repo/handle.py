"""What every open repository is: storage, its config, a blob writer, locks and a lifecycle.

:class:`~keyark.repo.repository.Repository` (a full key: reads and writes) and
:class:`~keyark.repo.agent_session.AgentRepository` (a write-only agent) are both
a :class:`RepositoryHandle` over the stores they hold; the write path a backup
needs (:class:`WritableRepository`) is common to both, everything else exists on
the full-key type only.
"""

from __future__ import annotations

from typing import Generic, Protocol, Self, TypeVar

from keyark.backends.base import Backend
from keyark.cancel import NEVER, CancelToken
from keyark.events import Events
from keyark.repo.blob_writer import BlobWriter
from keyark.repo.config import RepoConfig, derive_subkey
from keyark.repo.lock_store import LockStore
from keyark.repo.locks import RepositoryLock
from keyark.repo.snapshot_store import SnapshotWriter

B = TypeVar("B", bound=BlobWriter)
S = TypeVar("S", bound=SnapshotWriter)


class RepositoryHandle(Generic[B, S]):
    """An open repository: its storage, config, blob and snapshot writers, and locks."""

    def __init__(self, backend: Backend, config: RepoConfig, id_key: bytes) -> None:
        self._backend = backend
        #: The verified repository config.
        self.config = config
        self.locks = LockStore(backend, id_key)
        self._audit_secret = derive_subkey(id_key, "keyark audit").secret
        #: The running operation's events and cancel token (bound by ``keyark.ops``):
        #: lock waits and warnings of the repository layer go there.
        self.events = Events()
        self.cancel: CancelToken = NEVER

    # Set by the concrete type (a full-key BlobStore, or an agent's BlobWriter).
    blobs: B
    snapshots: S

    @property
    def repo_id(self) -> str:
        """The repository's id (64 hex digits)."""
        return self.config.repo_id

    @property
    def audit_secret(self) -> bytes:
        """The root of the audit log's keys (derived from the keyring's id key)."""
        return self._audit_secret

    @property
    def location(self) -> str:
        """Where the repository is stored (a URL-like string, no secret)."""
        return self._backend.location()

    @property
    def connections(self) -> int:
        """How many requests the storage serves in parallel (size worker pools with it)."""
        return max(1, self._backend.capabilities().connections)

    @property
    def backend(self) -> Backend:  # facade: raw storage, for tests that plant objects
        """The storage backend (only ``keyark.repo`` and tests use it directly)."""
        return self._backend

    def lock(
        self, operation: str, *, exclusive: bool = False, retry: float = 0.0
    ) -> RepositoryLock:
        """Take a shared or exclusive lock (a context manager), waiting up to ``retry`` s.

        Waits are reported as ``LockWait`` events on :attr:`events` and end at once on
        a cancel of :attr:`cancel`.
        """
        self.blobs.discard_failed_writes()  # a new operation: never dedup failed uploads
        return self.locks.take(
            operation, exclusive=exclusive, retry=retry, events=self.events, cancel=self.cancel
        )

    def stored_packs(self) -> dict[bytes, int]:
        """Pack id -> size of every stored pack."""
        return self.blobs.packs.stored()

    def close(self) -> None:
        """Stop uploads and close the storage connection."""
        self.blobs.close()
        self._backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class WritableRepository(Protocol):
    """The write path a backup or copy target needs, common to both repository types."""

    @property
    def config(self) -> RepoConfig: ...

    @property
    def blobs(self) -> BlobWriter: ...

    @property
    def snapshots(self) -> SnapshotWriter: ...

    @property
    def repo_id(self) -> str: ...

    def lock(
        self, operation: str, *, exclusive: bool = False, retry: float = 0.0
    ) -> RepositoryLock: ...

    @property
    def sealing_key(self) -> bytes: ...

    def refresh_keys(self) -> bool: ...

    def require_current_key(self, key_id: bytes) -> None: ...

    def stored_packs(self) -> dict[bytes, int]: ...

    def close(self) -> None: ...


__all__ = ["RepositoryHandle", "WritableRepository"]
