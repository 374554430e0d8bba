"""``rewrite``: new snapshots without the excluded paths, optionally removing the originals."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.maintenance.rewrite_snapshots import REWRITE_TAG as REWRITE_TAG
from keyark.maintenance.rewrite_snapshots import RewriteOptions as RewriteOptions
from keyark.maintenance.rewrite_snapshots import RewriteResult as RewriteResult
from keyark.maintenance.rewrite_snapshots import RewrittenSnapshot as RewrittenSnapshot
from keyark.maintenance.rewrite_snapshots import rewrite_snapshots
from keyark.ops.catalogue import operation
from keyark.ops.session import opened


@operation("rewrite", options=RewriteOptions, result=RewriteResult, mutates=True)
def rewrite(ctx: OperationContext, options: RewriteOptions) -> RewriteResult:
    """Write new snapshots without the excluded paths, optionally removing the originals."""
    options.validate()  # before the repository is opened: bad input changes nothing
    with opened(ctx) as repo:
        return rewrite_snapshots(repo, options, ctx)
