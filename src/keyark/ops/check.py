"""``check``: verify the repository's structure, and with ``read_data`` its data."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.maintenance.check import REPAIR_THE_PACK, CheckOptions
from keyark.maintenance.check import check as run_check
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.results import CheckSummary, Problem


@operation("check", options=CheckOptions, result=CheckSummary, mutates=False)
def check(ctx: OperationContext, options: CheckOptions) -> CheckSummary:
    """Verify the repository's structure, and with read_data its data."""
    with opened(ctx) as repo:
        return run_check(repo, options, ctx)


def packs_to_repair(summary: CheckSummary) -> list[str]:
    """Ids of the packs the check found damaged (repairing them salvages their readable
    blobs and unindexes them, so the next backup stores the lost content again)."""
    return sorted(
        {
            problem.object.rsplit("/", 1)[-1]
            for problem in summary.problems
            if problem.kind == "pack" and problem.message.endswith(REPAIR_THE_PACK)
        }
    )


__all__ = ["CheckOptions", "CheckSummary", "Problem", "check", "packs_to_repair"]
