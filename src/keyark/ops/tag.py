"""``tag``: set, add or remove tags of snapshots (each changed one is replaced)."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.maintenance.snapshot_tags import RetaggedSnapshot as RetaggedSnapshot
from keyark.maintenance.snapshot_tags import TagOptions as TagOptions
from keyark.maintenance.snapshot_tags import TagResult as TagResult
from keyark.maintenance.snapshot_tags import split_tags as split_tags
from keyark.maintenance.snapshot_tags import tag_snapshots
from keyark.ops.catalogue import operation
from keyark.ops.session import opened


@operation("tag", options=TagOptions, result=TagResult, mutates=True)
def tag(ctx: OperationContext, options: TagOptions) -> TagResult:
    """Set, add or remove tags of snapshots (each changed one is replaced)."""
    options.validate()  # before the repository is opened: bad input changes nothing
    with opened(ctx) as repo:
        return tag_snapshots(repo, options, ctx)
