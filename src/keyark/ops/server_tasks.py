"""The server's API tasks on a control database several servers share, so any server
answers for a task another started (see :mod:`keyark.state.task_records`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyark.control.leases import instance_name as instance_name
from keyark.state.task_records import TaskRecords as TaskRecords
from keyark.state.task_records import TaskRow as TaskRow

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig


def task_records(config: KeyarkConfig) -> TaskRecords | None:
    """The task table of ``config``'s shared control database (``server.database``); None
    without one (one server keeps its tasks in memory)."""
    url = config.server.database
    if not url:
        return None
    from keyark.control.database import PostgresDatabase

    return TaskRecords(PostgresDatabase(url))
