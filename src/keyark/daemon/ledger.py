"""The scheduler's ledger: each task's cursor and the run history's rows the loop writes.

A task's cursor is the newest scheduled time handled (started, skipped or missed); it
moves forward only, in memory and in the run store together. Times that did not run are
recorded ``skipped`` or ``missed`` (one log line each, or one for a range); runs of dead
processes are marked ``interrupted`` at start; a runner's failure is one ``failed`` row.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from keyark.daemon.clock import Clock
from keyark.daemon.planner import Missed, Task

if TYPE_CHECKING:
    from keyark.ops import RunStore


class Ledger:
    """Cursors and run records of one scheduler, over its run store."""

    def __init__(self, store: RunStore, clock: Clock, log: logging.Logger) -> None:
        self.store = store
        self._clock = clock
        self._log = log
        #: Task name -> the newest scheduled time handled (UTC).
        self.cursors: dict[str, datetime] = {}

    def load_cursor(self, task: Task, now: datetime) -> None:
        if task.name in self.cursors:
            return
        stored = self.store.cursor(task.name)
        if stored is None:  # first start: nothing was missed
            self.store.set_cursor(task.name, now)
            stored = now
        self.cursors[task.name] = stored.astimezone(UTC)

    def advance(self, task: Task, moment: datetime) -> None:
        if moment > self.cursors.get(task.name, moment - timedelta(1)):
            self.cursors[task.name] = moment
            self.store.set_cursor(task.name, moment)

    def note(self, task: Task, status: str, rows: list[Missed]) -> None:
        """Record times that did not run (``skipped`` or ``missed``); move the cursor."""
        if not rows:
            return
        from keyark import ops

        finished = self._clock.now()
        records = [
            ops.RunRecord(
                job=task.name,
                kind=task.kind,
                trigger="schedule",
                status=status,
                scheduled=row.scheduled,
                finished=finished,
                error=row.message,
                error_code=row.code,
            )
            for row in rows
        ]
        newest = max(row.scheduled for row in rows)
        moved = newest > self.cursors.get(task.name, newest - timedelta(1))
        self.store.record_all(records, cursor=(task.name, newest) if moved else None)
        if moved:
            self.cursors[task.name] = newest
        if len(rows) <= 3 and all(row.count == 1 for row in rows):
            for row in rows:
                self._log.info(
                    "%s %s: %s the run due at %s: %s",
                    task.kind,
                    task.name,
                    status,
                    row.scheduled.isoformat(),
                    row.reason,
                )
        else:
            self._log.info(
                "%s %s: %s %d runs due from %s to %s: %s",
                task.kind,
                task.name,
                status,
                sum(row.count for row in rows),
                (rows[0].first or rows[0].scheduled).isoformat(),
                newest.isoformat(),
                rows[-1].reason,
            )

    def recover(self) -> dict[str, list[datetime]]:
        """Mark runs of dead processes ``interrupted``; their scheduled times, by task."""
        times: dict[str, list[datetime]] = {}
        for record in self.store.mark_interrupted():
            self._log.warning(
                "%s %s: the run started %s was interrupted (its process %s ended)",
                record.kind,
                record.job,
                record.started.isoformat() if record.started else "at an unknown time",
                record.pid,
            )
            if record.scheduled is not None and record.trigger in ("schedule", "catch-up"):
                times.setdefault(record.job, []).append(record.scheduled)
        return times

    def record_failure(
        self, task: Task, trigger: str, scheduled: datetime, error: BaseException
    ) -> None:
        from keyark import ops

        code = getattr(error, "code", None)
        record = ops.RunRecord(
            job=task.name,
            kind=task.kind,
            trigger=trigger,
            status="failed",
            scheduled=scheduled,
            finished=self._clock.now(),
            error=str(error) or type(error).__name__,
            error_code=code if isinstance(code, str) else "error",
        )
        try:
            self.store.record(record)
        except Exception as failure:
            self._log.error("could not record the failure of %s: %s", task.name, failure)


__all__ = ["Ledger"]
