"""Opening the context's repository for one operation (and closing it again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from keyark import storage
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.repo.repository import Repository

if TYPE_CHECKING:  # the agent session loads only for an agent credential's backup
    from keyark.repo.agent_session import AgentRepository

H = TypeVar("H", "Repository", "AgentRepository")

#: The one message for a write-only credential used to read.
WRITE_ONLY = (
    "this credential can only write: only backup accepts an agent credential; "
    "use a passphrase or another full key to read the repository"
)


def open_repository(ctx: OperationContext) -> Repository:
    """Open and unlock the context's repository with a full key, bound to its events."""
    if ctx.agent_credential is not None:
        raise UsageError(WRITE_ONLY)
    repo = storage.open_repository(
        ctx.url, ctx.resolve_credentials(), ctx.backend_options(), ctx.cache_dir
    )
    return bind(repo, ctx)


def open_for_backup(ctx: OperationContext) -> Repository | AgentRepository:
    """Like :func:`open_repository`, but a write-only agent credential is accepted."""
    credential = ctx.agent_credential
    if credential is None:
        return open_repository(ctx)
    from keyark.agents import open_agent_repository

    return bind(open_agent_repository(ctx.url, credential, ctx.backend_options()), ctx)


def bind(repo: H, ctx: OperationContext) -> H:
    """Route the repository layer's events and cancel checks to ``ctx``."""
    repo.events = ctx.events
    repo.cancel = ctx.cancel
    repo.locks.unlocked_reads = ctx.config is not None and ctx.config.no_lock
    from keyark.audit.target import AuditTarget  # lazily: start-up of read-only commands

    ctx.audit_targets.append(AuditTarget.of(repo, ctx))  # the audit log writes there
    return repo


@contextmanager
def opened(ctx: OperationContext) -> Iterator[Repository]:
    """The context's repository, open for the block (closed after it)."""
    repo = open_repository(ctx)
    try:
        yield repo
    finally:
        repo.close()


__all__ = ["WRITE_ONLY", "Repository", "bind", "open_for_backup", "open_repository", "opened"]
