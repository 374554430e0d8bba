"""``check``: verify the repository's structure, and with ``read_data`` its data."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.maintenance.check import CheckOptions as CheckOptions
from keyark.maintenance.check import check as run_check
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.results import CheckSummary as CheckSummary
from keyark.results import Problem as Problem


@operation("check", options=CheckOptions, result=CheckSummary, mutates=False)
def check(ctx: OperationContext, options: CheckOptions) -> CheckSummary:
    """Verify the repository's structure, and with read_data its data."""
    with opened(ctx) as repo:
        return run_check(repo, options, ctx)
