"""``forget``: remove snapshots by id or by retention policy, optionally then prune."""

from __future__ import annotations

from keyark.context import OperationContext
from keyark.maintenance.forget import ForgetOptions as ForgetOptions
from keyark.maintenance.forget import ForgetResult as ForgetResult
from keyark.maintenance.forget import forget as run_forget
from keyark.maintenance.retention import DEFAULT_GROUP_BY as DEFAULT_GROUP_BY
from keyark.maintenance.retention import UNLIMITED as UNLIMITED
from keyark.maintenance.retention import Decision as Decision
from keyark.maintenance.retention import GroupDecisions as GroupDecisions
from keyark.maintenance.retention import RetentionPolicy as RetentionPolicy
from keyark.maintenance.retention import parse_group_by as parse_group_by
from keyark.maintenance.retention import parse_keep_tag as parse_keep_tag
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.units import CalendarDuration as CalendarDuration
from keyark.units import parse_calendar_duration as parse_calendar_duration


@operation("forget", options=ForgetOptions, result=ForgetResult, mutates=True)
def forget(ctx: OperationContext, options: ForgetOptions) -> ForgetResult:
    """Remove snapshots by id or by retention policy, optionally then prune."""
    options.validate()  # before the repository is opened: bad input changes nothing
    with opened(ctx) as repo:
        return run_forget(repo, options, ctx)
