"""A repository an operation opened, as the audit log needs it after the operation.

The session opener (:func:`keyark.ops.session.bind`) registers each repository it
opens on the operation's context; when the operation ends, the audit writer opens
the storage again (the operation has closed its own connection) and writes the
record there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyark.audit.keys import AuditKeys

if TYPE_CHECKING:
    from keyark.backends.base import Backend
    from keyark.context import OperationContext
    from keyark.repo.handle import RepositoryHandle


@dataclass(frozen=True)
class AuditTarget:
    """A repository's id, location (no secret), audit keys and how to reach its storage."""

    repo_id: str
    location: str
    keys: AuditKeys = field(repr=False)
    open_backend: Callable[[], Backend] = field(repr=False, compare=False)

    @classmethod
    def of(cls, repo: RepositoryHandle[Any, Any], ctx: OperationContext) -> AuditTarget:
        """The target for ``repo`` opened with ``ctx``'s settings."""

        def open_backend() -> Backend:
            from keyark.storage import open_repository_backend

            return open_repository_backend(ctx.url, ctx.backend_options())

        return cls(repo.repo_id, repo.location, AuditKeys(repo.audit_secret), open_backend)


__all__ = ["AuditTarget"]
