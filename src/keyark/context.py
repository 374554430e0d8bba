"""What every operation and pipeline runs with: :class:`OperationContext`.

A face builds one context per operation from the config model (the CLI from its
flags and ``KEYARK_*`` variables, the Python API from arguments or a YAML file,
later the daemon from a job and the HTTP server from a request): the repository
spec and how to get its credentials, the cache directory, an event sink, a cancel
token, how long to wait for a lock, and who is acting (for the audit log).
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from keyark.cache_dir import default_cache_dir
from keyark.cancel import NEVER, CancelToken
from keyark.errors import UsageError
from keyark.events import Events

if TYPE_CHECKING:  # the config model and the resolver load when a context uses them
    from keyark.audit.policy import AuditPolicy
    from keyark.audit.target import AuditTarget
    from keyark.backends.registry import BackendOptions
    from keyark.config.models import RepositoryConfig
    from keyark.crypto.slots import Credentials


@dataclass(frozen=True)
class Actor:
    """Who runs an operation: the OS user, host and process; later an API principal or job."""

    user: str
    host: str
    pid: int
    #: The authenticated HTTP API principal, when the server runs the operation.
    principal: str | None = None
    #: The scheduled job, when the daemon runs it.
    job: str | None = None

    @classmethod
    def current(cls, *, principal: str | None = None, job: str | None = None) -> Actor:
        """This process's user, host and pid."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return cls(user, socket.gethostname(), os.getpid(), principal, job)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class OperationContext:
    """The repository, its credentials, the cache, events, cancel token, lock wait and actor.

    ``credentials`` may be given resolved (an embedding program that holds the key)
    or left None: :meth:`resolve_credentials` then asks the config's secret
    references once (environment, file, command, prompt, key file, PKCS#11).
    """

    config: RepositoryConfig | None = None
    credentials: Credentials | None = field(default=None, repr=False)
    #: Client-side state (catalog, agent cache, trust state); None: the default directory.
    cache_dir: Path | None = None
    events: Events = field(default_factory=Events)
    cancel: CancelToken = NEVER
    #: Seconds to keep retrying a lock another process holds (``--retry-lock``).
    lock_wait: float = 0.0
    actor: Actor = field(default_factory=Actor.current)
    #: The audit log's settings; None: the config file's ``audit`` section, else defaults.
    audit: AuditPolicy | None = None
    #: The repositories the running operation opened (the audit log writes to them).
    audit_targets: list[AuditTarget] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cache_dir is None and self.config is not None and self.config.cache_dir:
            self.cache_dir = Path(self.config.cache_dir)

    # ----------------------------------------------------------------- derived
    @property
    def cache_root(self) -> Path:
        """The cache directory in use."""
        return self.cache_dir or default_cache_dir()

    def require_config(self) -> RepositoryConfig:
        """The repository config; a UsageError when the face gave none."""
        if self.config is None:
            raise UsageError("no repository given")
        return self.config

    @property
    def url(self) -> str:
        return self.require_config().repository.url

    def backend_options(self) -> BackendOptions:
        """Resolved backend settings, reporting retries to this context's events."""
        from keyark.config.resolve import backend_options

        options = backend_options(self.require_config().repository)
        return replace(options, events=self.events, cancel=self.cancel)

    def resolve_credentials(self) -> Credentials:
        """The key material to open with (resolved once, then kept)."""
        if self.credentials is None:
            from keyark.config.resolve import resolve_credentials

            self.credentials = resolve_credentials(self.require_config().credentials)
        return self.credentials

    @property
    def agent_credential(self) -> Path | None:
        """The write-only agent credential file, when the config names one."""
        path = self.require_config().credentials.agent_credential
        return Path(path) if path else None

    def for_operation(self, name: str) -> OperationContext:
        """A copy whose events carry ``name`` and that has opened no repository yet
        (the catalogue calls this)."""
        return replace(self, events=self.events.child(name), audit_targets=[])

    def with_config(self, config: RepositoryConfig) -> OperationContext:
        """The same context for another repository (the source of ``copy``)."""
        cache = Path(config.cache_dir) if config.cache_dir else self.cache_dir
        return replace(self, config=config, credentials=None, cache_dir=cache)


__all__ = ["Actor", "OperationContext"]
