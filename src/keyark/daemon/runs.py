"""The scheduler's runs: the default runner, a due time waiting for its start, and a run
in its worker thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from keyark.cancel import CancelToken
from keyark.daemon.planner import Task

if TYPE_CHECKING:
    from keyark.ops import Claim, JobRun, RunOptions

#: Runs one task: the options say which and why; the token cancels it.
Runner = Callable[["RunOptions", CancelToken], "JobRun"]


def run_with_ops(options: RunOptions, token: CancelToken) -> JobRun:
    """The default runner: the ``run`` operation, cancelled by ``token``, acting as the job."""
    from keyark import ops

    context = ops.OperationContext(cancel=token, actor=ops.Actor.current(job=options.task))
    return ops.run(context, options)


@dataclass
class Pending:
    """A due time waiting for its start (its random delay, or a free slot)."""

    task: Task
    scheduled: datetime
    trigger: str
    start_at: datetime
    #: When it first had to wait for a free slot (None: it has not).
    waiting_since: datetime | None = None


@dataclass
class Active:
    """A run in a worker thread."""

    task: Task
    scheduled: datetime
    trigger: str
    token: CancelToken
    started: float
    #: This instance's claim of the run (a control database shared by several instances).
    claim: Claim | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


__all__ = ["Active", "Pending", "Runner", "run_with_ops"]
