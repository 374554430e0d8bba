"""``forget``: remove snapshots by id or by retention policy, optionally then prune."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.maintenance.forget import ForgetOptions, ForgetResult
from keyark.maintenance.forget import forget as run_forget
from keyark.maintenance.retention import (
    DEFAULT_GROUP_BY,
    UNLIMITED,
    Decision,
    GroupDecisions,
    RetentionPolicy,
    parse_group_by,
    parse_keep_tag,
)
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.units import CalendarDuration, parse_calendar_duration


@operation("forget", options=ForgetOptions, result=ForgetResult, mutates=True)
def forget(ctx: OperationContext, options: ForgetOptions) -> ForgetResult:
    """Remove snapshots by id or by retention policy, optionally then prune."""
    options.validate()  # before the repository is opened: bad input changes nothing
    with opened(ctx) as repo:
        return run_forget(repo, options, ctx)


__all__ = [
    "DEFAULT_GROUP_BY",
    "UNLIMITED",
    "CalendarDuration",
    "Decision",
    "ForgetOptions",
    "ForgetResult",
    "GroupDecisions",
    "RetentionPolicy",
    "forget",
    "parse_calendar_duration",
    "parse_group_by",
    "parse_keep_tag",
]
