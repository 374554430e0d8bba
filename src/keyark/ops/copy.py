"""``copy``: snapshots from a source repository into the context's repository.

The source is a second :class:`~keyark.config.models.RepositoryConfig` in the options
(its own URL, backend options and credentials); copies are re-encrypted under the
target's keys and keep their provenance (see :mod:`keyark.replication`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.catalog.snapshots import list_snapshots
from keyark.config.models import RepositoryConfig
from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.replication import CopySummary, choose_snapshots, copy_snapshots


@dataclass(frozen=True)
class CopyOptions:
    """The source repository and which of its snapshots to copy."""

    source: RepositoryConfig
    #: Snapshot ids, unique prefixes or ``latest``.
    snapshots: list[str] = field(default_factory=list)
    #: Copy every snapshot of the source.
    all_snapshots: bool = False
    #: Also copy flagged snapshots (they stay flagged in the target).
    allow_unsigned: bool = False


@operation("copy", options=CopyOptions, result=CopySummary, mutates=True)
def copy(ctx: OperationContext, options: CopyOptions) -> CopySummary:
    """Copy snapshots from another repository, re-encrypted under this one's keys."""
    source_ctx = ctx.with_config(options.source)
    with opened(source_ctx) as source, opened(ctx) as target:
        chosen = choose_snapshots(
            list_snapshots(source, source_ctx),
            options.snapshots,
            options.all_snapshots,
            ctx.events,
        )
        summary = copy_snapshots(
            source,
            target,
            chosen,
            list_snapshots(target, ctx),
            ctx=ctx,
            allow_unsigned=options.allow_unsigned,
        )
        list_snapshots(target, ctx)  # bring the catalog up to date
    return summary


__all__ = ["CopyOptions", "CopySummary", "copy"]
