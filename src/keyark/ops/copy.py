"""``copy``: snapshots from a source repository into the context's repository.

The source is a second :class:`~keyark.config.models.RepositoryConfig` in the options
(its own URL, backend options and credentials); copies are re-encrypted under the
target's keys and keep their provenance (see :mod:`keyark.replication`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from keyark.catalog.snapshots import list_snapshots
from keyark.config.models import RepositoryConfig
from keyark.context import OperationContext
from keyark.errors import Hint, WrongPasswordError
from keyark.ops.catalogue import operation
from keyark.ops.session import open_repository
from keyark.replication import CopySummary as CopySummary
from keyark.replication import choose_snapshots, copy_snapshots, redacted_location
from keyark.repo.repository import Repository


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
    with _opened_side(source_ctx, "source") as source, _opened_side(ctx, "destination") as target:
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


@contextmanager
def _opened_side(ctx: OperationContext, side: str) -> Iterator[Repository]:
    """The repository open for the block; a refused key names the side and its location."""
    try:
        repo = open_repository(ctx)
    except WrongPasswordError as error:
        hint = Hint.SOURCE_PASSPHRASE if side == "source" else error.hint
        where = redacted_location(ctx.url)
        raise WrongPasswordError(f"{side} repository {where}: {error}", hint=hint) from None
    try:
        yield repo
    finally:
        repo.close()
