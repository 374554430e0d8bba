"""``verify``: read a snapshot's blobs back from storage (all, or a share), changing nothing."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.jobs.verify import VerifyOptions as VerifyOptions
from keyark.jobs.verify import VerifySummary as VerifySummary
from keyark.jobs.verify import verify_snapshot
from keyark.ops.catalogue import operation
from keyark.ops.session import opened


@operation("verify", options=VerifyOptions, result=VerifySummary, mutates=False)
def verify(ctx: OperationContext, options: VerifyOptions) -> VerifySummary:
    """Read back a snapshot's blobs (every stored copy), decrypted and checked."""
    with opened(ctx) as repo:
        return verify_snapshot(repo, options, ctx)
