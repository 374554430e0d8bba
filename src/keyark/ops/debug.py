"""``debug cat``: one repository object as JSON-ready data (never key material).

Decrypted objects (snapshots, trees, index files) are shown as they are, so the
operation reads secret content; see :mod:`keyark.repo.inspect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.inspect import KINDS, cat

#: The kinds of object ``debug cat`` shows.
DEBUG_KINDS = KINDS


@dataclass(frozen=True)
class DebugCatOptions:
    """The kind of object (one of :data:`DEBUG_KINDS`) and its id or a unique prefix."""

    kind: str
    object_id: str = ""


@dataclass(frozen=True)
class DebugObject:
    """One object's view; ``to_dict()`` is the view itself."""

    kind: str
    view: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.view)


@operation(
    "debug cat",
    options=DebugCatOptions,
    result=DebugObject,
    mutates=False,
    reads_secrets=True,
    secret_result=True,  # the decrypted object: never in events or the audit log
)
def debug_cat(ctx: OperationContext, options: DebugCatOptions) -> DebugObject:
    """Show one repository object (config, keyring, key, snapshot, index, pack, blob, lock)."""
    with opened(ctx) as repo:
        return DebugObject(options.kind, cat(repo, options.kind, options.object_id))


__all__ = ["DEBUG_KINDS", "DebugCatOptions", "DebugObject", "debug_cat"]
