"""What the routes and pages share: the config, the run history, contexts and tasks.

:class:`ServerState` (``app.state.keyark``) runs catalogue operations for a principal:
it checks the principal's permission for the operation, builds the operation's context
(the named repository of the config, its credentials resolved once and kept, the actor
naming the principal so the audit log records it) and calls the catalogue entry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keyark import ops
from keyark.access.permissions import Principal, permission_for
from keyark.cancel import NEVER, CancelToken
from keyark.errors import ForbiddenError, KeyarkError, UnknownResourceError, UsageError
from keyark.events import Event, Events
from keyark.server.tasks import TaskRegistry

if TYPE_CHECKING:
    from starlette.requests import Request

    from keyark.config.document import KeyarkConfig
    from keyark.config.models import RepositoryConfig
    from keyark.ops import Result, RunStore
    from keyark.server.settings import ServerSettings

log = logging.getLogger(__name__)

#: Operations over the whole config (its jobs, checks, alerts): they open what they need
#: themselves, so no repository's credentials are resolved for them (a health check must
#: work when one repository's secret does not).
CONFIG_OPERATIONS = frozenset({"run", "monitor check", "monitor alerts", "metrics"})


class ServerState:
    """The server's config, run history and tasks, and how it runs operations."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.config: KeyarkConfig = settings.config
        #: The run history the CLI's ``history`` reads (jobs, maintenance tasks).
        self.runs: RunStore = ops.state_store(settings.config, settings.state_dir)
        #: API tasks; with a shared control database every server answers for each one.
        self.tasks = TaskRegistry(
            self._run_for_task,
            records=ops.task_records(settings.config),
            instance=ops.instance_name(),
        )
        self._credentials: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ repositories
    def repository_name(self, repository: str | None) -> str | None:
        """The repository a request means: the named one, else the config's first one
        (None when the config names none); an unknown name is a 404."""
        names = list(self.config.repositories)
        if repository is None:
            return names[0] if names else None
        if repository not in self.config.repositories:
            raise UnknownResourceError(f"no repository named {repository!r} in the config")
        return repository

    def context(
        self,
        principal: Principal,
        repository: str | None = None,
        *,
        events: Callable[[Event], None] | None = None,
        cancel: CancelToken = NEVER,
        with_repository: bool = True,
    ) -> ops.OperationContext:
        """The context an operation of ``principal`` runs with on ``repository`` (the
        config's first one when None): credentials resolved once per repository. Without
        ``with_repository`` the context names no repository (config-wide operations)."""
        name = self.repository_name(repository)
        config: RepositoryConfig | None = None
        credentials = None
        if name is not None and with_repository:
            config = self.config.repository(name)
            credentials = self._credentials_of(name, config)
        return ops.OperationContext(
            config=config,
            credentials=credentials,
            events=Events("", events),
            cancel=cancel,
            actor=ops.Actor.current(principal=principal.name),
        )

    def _credentials_of(self, name: str, config: RepositoryConfig) -> Any:
        with self._lock:
            found = self._credentials.get(name)
            if found is None:
                found = ops.OperationContext(config=config).resolve_credentials()
                self._credentials[name] = found
            return found

    # -------------------------------------------------------------- operations
    @staticmethod
    def allow(principal: Principal, operation: str) -> None:
        """Raise :class:`ForbiddenError` unless ``principal`` may run ``operation``."""
        needed = permission_for(operation)
        if not principal.can(needed):
            raise ForbiddenError(
                f"{principal.name} ({principal.role}) may not run {operation}: "
                f"it needs the {needed} permission"
            )

    def run(
        self,
        principal: Principal,
        operation: str,
        options: object,
        repository: str | None = None,
        *,
        events: Callable[[Event], None] | None = None,
        cancel: CancelToken = NEVER,
    ) -> Result:
        """Run catalogue entry ``operation`` for ``principal`` now (in this thread)."""
        self.allow(principal, operation)
        entry = ops.CATALOGUE.get(operation)
        if entry is None:
            raise UnknownResourceError(f"no operation {operation!r}")
        context = self.context(
            principal,
            repository,
            events=events,
            cancel=cancel,
            with_repository=operation not in CONFIG_OPERATIONS,
        )
        try:
            return entry(context, options)  # type: ignore[no-any-return]
        except (ValueError, TypeError) as error:  # options the core rejects
            if isinstance(error, KeyarkError):
                raise
            raise UsageError(f"{operation}: {error}") from None

    def _run_for_task(
        self,
        principal: Principal,
        operation: str,
        options: object,
        repository: str | None,
        events: Callable[[Event], None],
        cancel: CancelToken,
    ) -> dict[str, Any]:
        entry = ops.CATALOGUE[operation]
        result = self.run(principal, operation, options, repository, events=events, cancel=cancel)
        return {} if entry.secret_result else result.to_dict()

    def start(
        self, principal: Principal, operation: str, options: object, repository: str | None = None
    ) -> Any:
        """Start ``operation`` as a task (its permission and repository checked first)."""
        self.allow(principal, operation)
        return self.tasks.start(principal, operation, options, self.repository_name(repository))

    # ------------------------------------------------------------------- audit
    def record_refusal(self, request: Request, error: KeyarkError) -> None:
        """Record a refused request (401, 403, 429) in the audit log of every repository."""
        principal = getattr(request.state, "principal", None)
        name = principal.name if isinstance(principal, Principal) else None
        client = request.client.host if request.client else "?"
        target = f"{request.method} {request.url.path} refused: {error.code} (client {client})"
        problem = ops.audit_event(
            self.config,
            "server refused",
            ops.Actor.current(principal=name or "anonymous"),
            path=target,
        )
        if problem is not None:
            log.warning("the audit record of a refused request was not written: %s", problem)


__all__ = ["CONFIG_OPERATIONS", "ServerState"]
