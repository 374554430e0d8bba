"""A controllable clock and a recording runner for the scheduler's tests.

:class:`FakeClock` moves only when the scheduler sleeps: each sleep first waits (real
time, bounded) until every run in a worker thread is *parked* (its runner waits for a
simulated time) or over, then advances wall and monotonic time together. So a test
runs days of schedule in milliseconds, and in the same order every time. A suspend
(:meth:`FakeClock.suspend_at`) moves the wall clock without the monotonic one, as a
machine asleep does.

:class:`FakeRunner` stands in for the ``run`` operation: it writes the run to the real
history store as the operation does (``running``, then its end), parks until its
simulated duration has passed or its token is cancelled, and keeps every call.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from keyark import ops
from keyark.cancel import CancelToken
from keyark.config.document import KeyarkConfig
from keyark.daemon.scheduler import Scheduler
from keyark.state.runs import RunRecord, RunStore

BERLIN = ZoneInfo("Europe/Berlin")
#: How long (real seconds) a sleep waits for the worker threads to settle.
SETTLE_TIMEOUT = 10.0


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in Europe/Berlin."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def config(jobs: dict[str, dict[str, Any]], **scheduler: Any) -> KeyarkConfig:
    """A config with one local repository and ``jobs`` (each with ``repository`` filled in)."""
    return KeyarkConfig.model_validate(
        {
            "repositories": {"main": {"url": "/nonexistent", "password_file": "/nonexistent"}},
            "jobs": {
                name: {"repository": "main", "sources": ["/tmp"], **spec}
                for name, spec in jobs.items()
            },
            "scheduler": {"timezone": "Europe/Berlin", **scheduler},
        }
    )


class FakeClock:
    """Simulated wall and monotonic time that advances when the scheduler sleeps."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)  # same-zone arithmetic would be wall-clock
        self._monotonic = 1000.0
        self._condition = threading.Condition()
        self._suspends: list[tuple[datetime, timedelta]] = []
        self._actions: list[tuple[datetime, Callable[[], None]]] = []
        #: Runs parked in :meth:`wait_until`: id -> (until when, their token).
        self._waiters: dict[int, tuple[datetime, CancelToken]] = {}
        self.end: datetime | None = None
        self.stop: CancelToken | None = None
        #: Called before each sleep: returns once the worker threads are settled.
        self.settle: Callable[[], None] = lambda: None
        self.sleeps = 0

    def now(self) -> datetime:
        with self._condition:
            return self._now

    def monotonic(self) -> float:
        with self._condition:
            return self._monotonic

    def suspend_at(self, moment: datetime, length: timedelta) -> None:
        """At ``moment`` the machine sleeps for ``length``: wall time jumps, monotonic not."""
        self._suspends.append((moment, length))

    def at(self, moment: datetime, action: Callable[[], None]) -> None:
        """Call ``action`` (in the scheduler's thread) once the clock reaches ``moment``."""
        self._actions.append((moment, action))

    def sleep(self, seconds: float, stop: CancelToken) -> None:
        """Settle the workers; unless woken, advance by ``seconds`` (to the next event)."""
        self.sleeps += 1
        assert self.sleeps < 200_000, "the scheduler loop does not make progress"
        self.settle()
        if stop.cancelled:
            return
        now = self.now()
        if self.end is not None and now >= self.end:
            assert self.stop is not None
            self.stop.cancel("the test is over")
            return
        target = now + timedelta(seconds=seconds)
        with self._condition:
            ends = [moment for moment, _ in self._waiters.values()]
        marks = [m for m in [*ends, *(m for m, _ in self._suspends + self._actions)] if now < m]
        if self.end is not None:
            marks.append(self.end)
        target = min([target, *marks]).astimezone(UTC)
        with self._condition:
            self._monotonic += (target - self._now).total_seconds()
            self._now = target
            for moment, length in list(self._suspends):
                if moment <= self._now:
                    self._suspends.remove((moment, length))
                    self._now += length
            self._condition.notify_all()
        self.settle()  # runs whose time is up end before the scheduler looks again
        for moment, action in list(self._actions):
            if moment <= target:
                self._actions.remove((moment, action))
                action()

    def parked(self) -> int | None:
        """How many runs wait for a later time; None while one is due to wake up."""
        with self._condition:
            waiting = list(self._waiters.values())
            now = self._now
        if any(moment <= now or token.cancelled for moment, token in waiting):
            return None
        return len(waiting)

    def wait_until(self, moment: datetime, token: CancelToken) -> None:
        """Block (really) until simulated time reaches ``moment`` or ``token`` is cancelled."""
        key = object()
        with self._condition:
            self._waiters[id(key)] = (moment, token)
            try:
                while self._now < moment and not token.cancelled:
                    self._condition.wait(0.01)
            finally:
                del self._waiters[id(key)]


@dataclass
class Call:
    """One call of the fake runner."""

    task: str
    trigger: str
    scheduled: datetime | None
    started: datetime
    finished: datetime | None = None
    cancelled: bool = False


@dataclass
class FakeRunner:
    """Records calls, writes history rows, parks for a simulated duration per task."""

    clock: FakeClock
    durations: dict[str, timedelta] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    #: Real seconds a cancelled run takes to unwind (to see ``serve`` wait for it).
    unwind: float = 0.0
    running: set[str] = field(default_factory=set)
    most_at_once: int = 0
    overlaps: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, options: ops.RunOptions, token: CancelToken) -> ops.JobRun:
        now = self.clock.now()
        call = Call(options.task, options.trigger, options.scheduled, now)
        with self._lock:
            if options.task in self.running:
                self.overlaps.append(options.task)
            self.running.add(options.task)
            self.most_at_once = max(self.most_at_once, len(self.running))
            self.calls.append(call)
        assert options.state_dir is not None
        store = RunStore(options.state_dir)
        record = store.start(
            RunRecord(
                job=options.task,
                kind="backup",
                trigger=options.trigger,
                scheduled=options.scheduled,
                started=now,
                pid=os.getpid(),
            )
        )
        duration = self.durations.get(options.task, timedelta(0))
        if duration > timedelta(0):
            self.clock.wait_until(now + duration, token)
        if token.cancelled:
            time.sleep(self.unwind)
            call.cancelled = True
            record.status, record.error_code = "failed", "cancelled"
        else:
            record.status, record.snapshot_id = "success", "feedface" * 8
        call.finished = record.finished = self.clock.now()
        record.duration = (record.finished - now).total_seconds()
        store.update(record)
        with self._lock:
            self.running.discard(options.task)
        return ops.JobRun(record)


class ListHandler(logging.Handler):
    """Keeps the log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Harness:
    """A scheduler on a fake clock and a fake runner, over a real history store."""

    directory: Path
    config: KeyarkConfig
    start: datetime
    durations: dict[str, timedelta] = field(default_factory=dict)
    jump_threshold: float = 60.0
    #: Simulated seconds: long sleeps keep days of schedule cheap (suspends are marks).
    max_sleep: float = 3600.0
    seed: int = 1

    def __post_init__(self) -> None:
        self.store = RunStore(self.directory)
        self.clock = FakeClock(self.start)
        self.runner = FakeRunner(self.clock, dict(self.durations))
        self.log = ListHandler()
        logger = logging.getLogger(f"keyark.daemon.test{id(self)}")
        logger.setLevel(logging.INFO)
        logger.addHandler(self.log)
        logger.propagate = False
        self.scheduler = Scheduler(
            self.config,
            self.store,
            clock=self.clock,
            runner=self.runner,
            logger=logger,
            rng=random.Random(self.seed),
            jump_threshold=self.jump_threshold,
            max_sleep=self.max_sleep,
        )
        self.clock.settle = self._settle

    def _settle(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            if len(self.scheduler.running) == self.clock.parked():
                return
            time.sleep(0.0005)
        raise AssertionError(
            f"runs did not settle: {self.scheduler.running}, parked {self.clock.parked()}"
        )

    def run_until(self, end: datetime) -> None:
        """Serve from the start until the fake clock reaches ``end``, then stop."""
        stop = CancelToken()
        self.clock.end, self.clock.stop = end, stop
        ready: list[bool] = []
        self.scheduler.serve(stop, lambda: ready.append(True))
        assert ready == [True]

    def rows(self, status: str | None = None, job: str | None = None) -> list[RunRecord]:
        return self.store.runs(job, status=status)

    def local(self, moments: Sequence[datetime | None]) -> list[str]:
        """Times as local ``MM-DD HH:MM`` text (for readable assertions)."""
        return [m.astimezone(BERLIN).strftime("%m-%d %H:%M") if m else "-" for m in moments]
