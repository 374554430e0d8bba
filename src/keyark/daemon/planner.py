"""Pure planning: which tasks a config schedules, what is due, what was missed.

A *task* is a job of the config file (kind ``backup``) or a maintenance task
(``maintenance.check``, ``maintenance.prune``, ``maintenance.rotate``; kind ``check``,
``prune``, ``rotate``). The scheduler keeps one *cursor* per task: the newest scheduled
time it has handled (started, or recorded as skipped or missed). Everything here is a
function of a task, its cursor and ``now``; nothing sleeps or writes.

Catch-up (on start, and on wake after a wall-clock jump): the scheduled times in
``(cursor, now]`` were missed. ``skip`` records each as ``missed``; ``run-once`` runs
once now (trigger ``catch-up``, for the newest missed time) when that time is within
``catch_up_window`` of now, and records the others as ``missed``. A task with no cursor
yet (its first start) has missed nothing: its cursor becomes ``now``.

Missed rows: one row per missed time, the newest :data:`MAX_MISSED_ROWS` of them; when
more were missed (``every 1s`` over a three-day sleep), the older ones are one summary
row (its ``scheduled`` is the newest time it covers; its message says how many times,
from when to when). So a long sleep costs a bounded number of rows, and a daily job
shows each missed night.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from keyark.config.document import KeyarkConfig
from keyark.config.schedule import Schedule

if TYPE_CHECKING:
    from keyark.ops import RunRecord, RunStore

#: The newest missed times recorded one row each; older ones share one summary row.
MAX_MISSED_ROWS = 50
#: Maintenance task name -> its kind.
MAINTENANCE_KINDS = {
    "maintenance.check": "check",
    "maintenance.prune": "prune",
    "maintenance.rotate": "rotate",
    "maintenance.drill": "drill",
}


@dataclass(frozen=True)
class Task:
    """A job or maintenance task as the scheduler sees it."""

    #: The job name, or ``maintenance.check`` / ``maintenance.prune`` / ``maintenance.rotate``.
    name: str
    #: ``backup`` for a job, else ``check`` / ``prune`` / ``rotate``.
    kind: str
    #: None: run only by hand.
    schedule: Schedule | None
    catch_up: str = "run-once"
    catch_up_window: timedelta = timedelta(hours=24)
    random_delay: timedelta = timedelta(0)

    def delay(self, rng: random.Random) -> timedelta:
        """A random start delay in ``[0, random_delay]``."""
        if self.random_delay <= timedelta(0):
            return timedelta(0)
        return timedelta(seconds=rng.uniform(0.0, self.random_delay.total_seconds()))


def all_tasks(config: KeyarkConfig) -> list[Task]:
    """Every job (in file order) and every configured maintenance task."""
    found = [
        Task(name, "backup", job.schedule, job.catch_up, job.catch_up_window, job.random_delay)
        for name, job in config.jobs.items()
    ]
    maintenance = config.maintenance
    for name, kind in MAINTENANCE_KINDS.items():
        section = getattr(maintenance, kind)
        if section is not None:
            found.append(
                Task(
                    name,
                    kind,
                    section.schedule,
                    section.catch_up,
                    section.catch_up_window,
                    section.random_delay,
                )
            )
    return found


def scheduled_tasks(config: KeyarkConfig) -> dict[str, Task]:
    """The tasks that have a schedule, by name."""
    return {task.name: task for task in all_tasks(config) if task.schedule is not None}


@dataclass(frozen=True)
class Missed:
    """A row to record for times that did not run: one time, or a summary of ``count``."""

    #: The (newest) scheduled time the row stands for.
    scheduled: datetime
    #: Why it did not run (face-neutral).
    reason: str
    #: Stable reason code (``missed``, ``outside-catch-up-window``, ``late``).
    code: str = "missed"
    #: How many scheduled times the row stands for (more than 1: a summary row).
    count: int = 1
    #: The oldest time a summary row covers.
    first: datetime | None = None

    @property
    def message(self) -> str:
        """The row's error text: the reason, with the range of a summary row."""
        if self.count == 1 or self.first is None:
            return self.reason
        return (
            f"{self.count} scheduled times from {self.first.isoformat()} to "
            f"{self.scheduled.isoformat()}: {self.reason}"
        )


@dataclass(frozen=True)
class Scan:
    """The scheduled times of a span: the newest ones, and a count of the earlier ones."""

    #: The newest times, ascending (at most the ``keep`` asked for).
    times: list[datetime]
    #: How many earlier times the span held, and the first and last of them.
    earlier: int = 0
    earlier_first: datetime | None = None
    earlier_last: datetime | None = None

    @property
    def total(self) -> int:
        return self.earlier + len(self.times)


def scan(schedule: Schedule, after: datetime, until: datetime, zone: tzinfo, keep: int) -> Scan:
    """The scheduled times in ``(after, until]``: the newest ``keep`` and a count of the rest.

    An interval schedule skips ahead arithmetically, so a week of ``every 1s`` costs
    ``keep`` steps, not 600,000. Times are returned in UTC: arithmetic and comparison of
    two times in the same zone would be wall-clock arithmetic (wrong across DST).
    """
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    if until <= after:
        return Scan([])
    earlier = 0
    earlier_first: datetime | None = None
    earlier_last: datetime | None = None
    start = after
    step = schedule.interval
    if step is not None:
        first = schedule.next_after(after, zone)
        total = (until - first) // step + 1 if first <= until else 0
        if total > keep:
            earlier = total - keep
            earlier_first = first.astimezone(UTC)
            earlier_last = (first + (earlier - 1) * step).astimezone(UTC)
            start = earlier_last
    newest: deque[datetime] = deque(maxlen=keep)
    for found in schedule.times_between(start, until, zone):
        moment = found.astimezone(UTC)
        if len(newest) == keep:
            dropped = newest[0]
            earlier += 1
            earlier_first = earlier_first or dropped
            earlier_last = dropped
        newest.append(moment)
    return Scan(list(newest), earlier, earlier_first, earlier_last)


def missed_rows(found: Scan, reason: str, code: str = "missed") -> list[Missed]:
    """The rows for the times of ``found``: a summary of the earlier ones, then one each."""
    rows: list[Missed] = []
    if found.earlier and found.earlier_last is not None:
        rows.append(Missed(found.earlier_last, reason, code, found.earlier, found.earlier_first))
    rows += [Missed(moment, reason, code) for moment in found.times]
    return rows


@dataclass(frozen=True)
class CatchUp:
    """What to do about a task's missed times."""

    task: Task
    #: The missed time to run now (trigger ``catch-up``), or None.
    run: datetime | None = None
    #: The rows to record as missed, oldest first.
    missed: list[Missed] = field(default_factory=list)

    @property
    def handled(self) -> datetime | None:
        """The newest time the missed rows cover (the cursor once they are recorded)."""
        return self.missed[-1].scheduled if self.missed else None


def plan_catch_up(
    task: Task,
    cursor: datetime,
    now: datetime,
    zone: tzinfo,
    *,
    reason: str,
    interrupted: tuple[datetime, ...] = (),
) -> CatchUp:
    """The catch-up of ``task``'s times in ``(cursor, now]`` (missed for ``reason``).

    ``interrupted``: scheduled times whose run was cut short by a crash; they count as
    missed (the newest may be the one caught up) but get no missed row (their run
    already has a ``failed`` row).
    """
    assert task.schedule is not None
    now = now.astimezone(UTC)
    found = scan(task.schedule, cursor, now, zone, MAX_MISSED_ROWS)
    candidates = sorted({*found.times, *(moment.astimezone(UTC) for moment in interrupted)})
    if not candidates:
        return CatchUp(task)
    newest = candidates[-1]
    if task.catch_up == "run-once" and now - newest <= task.catch_up_window:
        rest = Scan(
            [t for t in found.times if t != newest],
            found.earlier,
            found.earlier_first,
            found.earlier_last,
        )
        return CatchUp(task, newest, missed_rows(rest, reason))
    if task.catch_up == "run-once":
        window = _show(task.catch_up_window)
        reason = f"{reason}; older than the catch-up window ({window})"
        code = "outside-catch-up-window"
    else:
        code = "missed"
    return CatchUp(task, None, missed_rows(found, reason, code))


@dataclass(frozen=True)
class Due:
    """A task's times that came due in a normal step: the newest runs, older ones are late."""

    newest: datetime | None
    late: list[Missed] = field(default_factory=list)


def plan_due(task: Task, after: datetime, now: datetime, zone: tzinfo) -> Due:
    """The times of ``task`` in ``(after, now]``: the newest is due; older ones were missed
    (the scheduler woke up too late for them)."""
    assert task.schedule is not None
    found = scan(task.schedule, after, now, zone, MAX_MISSED_ROWS)
    if not found.times:
        return Due(None)
    newest = found.times[-1]
    rest = Scan(found.times[:-1], found.earlier, found.earlier_first, found.earlier_last)
    return Due(newest, missed_rows(rest, "the scheduler woke up after a later time", "late"))


@dataclass(frozen=True)
class TaskStatus:
    """One line of the ``schedule`` table."""

    name: str
    kind: str
    #: The schedule text, or None (run only by hand).
    schedule: str | None
    #: The newest row of its history (any status), or None.
    last: RunRecord | None
    #: The next scheduled time, or None when unscheduled.
    next: datetime | None
    catch_up: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 text, the last run as its record."""
        return {
            "name": self.name,
            "kind": self.kind,
            "schedule": self.schedule,
            "catch_up": self.catch_up,
            "last": None if self.last is None else self.last.to_dict(),
            "next": None if self.next is None else self.next.isoformat(),
        }


def schedule_table(config: KeyarkConfig, store: RunStore, now: datetime) -> list[TaskStatus]:
    """Each job and maintenance task: name, kind, schedule text, last run (RunRecord | None),
    next time (None when unscheduled); for ``keyark schedule``."""
    zone = config.scheduler.zone()
    table: list[TaskStatus] = []
    for task in all_tasks(config):
        following = None if task.schedule is None else task.schedule.next_after(now, zone)
        text = None if task.schedule is None else task.schedule.text
        table.append(
            TaskStatus(task.name, task.kind, text, store.last(task.name), following, task.catch_up)
        )
    return table


def _show(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
