"""``check``: verify the repository's structure, and with ``read_data`` its data."""

from __future__ import annotations

from dataclasses import replace

from keyark.context import OperationContext
from keyark.events import Code
from keyark.maintenance.check import CheckOptions
from keyark.maintenance.check import check as run_check
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.results import CheckSummary


@operation("check", options=CheckOptions, result=CheckSummary, mutates=False)
def check(ctx: OperationContext, options: CheckOptions) -> CheckSummary:
    """Verify the repository's structure, and with read_data its data."""
    with opened(ctx) as repo:
        options = replace(options, retry_lock=ctx.lock_wait)
        return run_check(repo, options, ctx.events.warner(Code.GENERAL))


__all__ = ["CheckOptions", "CheckSummary", "check"]
