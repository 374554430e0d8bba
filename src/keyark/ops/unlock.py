"""``unlock``: remove locks whose holders are gone (or every lock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyark.context import OperationContext
from keyark.maintenance.unlock import unlock as run_unlock
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.locks import LockInfo


@dataclass
class UnlockOptions:
    """Also remove the locks of running processes (when they are known to be gone)."""

    remove_all: bool = False


@dataclass
class UnlockResult:
    """The locks removed (an unreadable one has ``readable`` False)."""

    removed: list[LockInfo] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready object per removed lock."""
        return [
            {
                "name": info.name,
                "host": info.host,
                "pid": info.pid,
                "username": info.username,
                "operation": info.operation,
                "exclusive": info.exclusive,
                "created": info.created,
                "readable": info.readable,
            }
            for info in self.removed
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "summary", "removed": self.rows()}


@operation("unlock", options=UnlockOptions, result=UnlockResult, mutates=True)
def unlock(ctx: OperationContext, options: UnlockOptions) -> UnlockResult:
    """Remove locks left by processes that are gone (every lock with remove_all)."""
    with opened(ctx) as repo:
        return UnlockResult(run_unlock(repo, remove_all=options.remove_all))
