"""The scheduler loop: start each task's runs at their times, one at a time per task.

:class:`Scheduler` serves a config until its stop token is cancelled:

- **Start.** Rows left ``running`` by a process that is gone are marked ``failed``
  (``interrupted``); their scheduled times count as missed. Then catch-up planning
  (:func:`~keyark.daemon.planner.plan_catch_up`) for every scheduled task, then
  ``ready``.
- **Each step.** Wall clock and monotonic clock are read; if the wall clock moved
  more than ``jump_threshold`` seconds further than the monotonic one, the machine
  slept (or the clock was set forward): catch-up planning again. Then every task's due
  time becomes a pending start at that time plus its random delay; due pending starts
  run in worker threads through the runner, at most ``max_parallel_jobs`` at once
  (maintenance tasks count too); the others wait, in due order, and the log says how
  long each waited. A task whose previous run still runs when its next time comes is
  not started: that time is recorded ``skipped``. The loop sleeps until the next due
  time, at most ``max_sleep`` seconds (so a clock jump is seen soon), and wakes at
  once when a run ends, on reload and on stop.
- **Cursor.** A task's cursor (the newest scheduled time handled) advances when a run
  is started or a time is recorded skipped or missed; a pending start that never began
  (the daemon stopped first) is missed on the next start.
- **Stop.** Running runs are cancelled through their tokens (the operations stop at
  their next checkpoint and leave their repositories consistent); :meth:`serve`
  returns once they have all ended.

Every start, end, skip, miss, catch-up and reload is one line of the
``keyark.daemon`` logger.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from keyark.cancel import CancelledError, CancelToken
from keyark.config.document import KeyarkConfig
from keyark.daemon.clock import Clock, SystemClock
from keyark.daemon.ledger import Ledger
from keyark.daemon.planner import (
    CatchUp,
    Missed,
    Task,
    plan_catch_up,
    plan_due,
    schedule_table,
    scheduled_tasks,
)
from keyark.daemon.runs import Active, Pending, Runner, run_with_ops

if TYPE_CHECKING:
    from keyark.ops import Claim, RunOptions, RunStore, TaskClaims

__all__ = ["JUMP_THRESHOLD", "MAX_SLEEP", "Runner", "Scheduler", "run_with_ops", "schedule_table"]

#: The longest the loop sleeps between looks at the clocks (seconds).
MAX_SLEEP = 10.0
#: How much further the wall clock must move than the monotonic clock to count as a
#: sleep of the machine or a clock set forward (seconds).
JUMP_THRESHOLD = 60.0


class Scheduler:
    """Runs a config's scheduled jobs and maintenance tasks until stopped."""

    def __init__(
        self,
        config: KeyarkConfig,
        store: RunStore,
        *,
        clock: Clock | None = None,
        runner: Runner | None = None,
        logger: logging.Logger | None = None,
        rng: random.Random | None = None,
        max_sleep: float = MAX_SLEEP,
        jump_threshold: float = JUMP_THRESHOLD,
        on_run_end: Callable[[], None] | None = None,
        claims: TaskClaims | None = None,
    ) -> None:
        self._config = config
        #: Called (in the worker thread) after each run ended and was recorded.
        self._on_run_end = on_run_end
        self._tasks = scheduled_tasks(config)
        self._store = store
        self._clock: Clock = clock or SystemClock()
        self._runner: Runner = runner or run_with_ops
        self._log = logger or logging.getLogger("keyark.daemon")
        self._rng = rng or random.Random()
        self._max_sleep = max_sleep
        self._jump_threshold = jump_threshold
        self._lock = threading.RLock()
        self._ledger = Ledger(store, self._clock, self._log)
        self._pending: dict[str, Pending] = {}
        self._running: dict[str, Active] = {}
        self._alarm = CancelToken()
        self._looked: tuple[datetime, float] | None = None
        #: Exactly-once across instances sharing the store's database (None: one instance).
        if claims is None:
            from keyark import ops

            claims = ops.shared_claims(store.database)
        self._claims = claims
        self._takeover_look = 0.0

    # ------------------------------------------------------------------ public
    def serve(self, stop: CancelToken, ready: Callable[[], None] | None = None) -> None:
        """Run scheduled tasks until ``stop`` is cancelled (call ``ready`` once started, after
        catch-up planning); then cancel running runs through their tokens, wait for them to
        unwind, and return."""
        watcher = threading.Thread(
            target=self._watch, args=(stop,), name="keyark-scheduler-stop", daemon=True
        )
        watcher.start()
        now = self._clock.now().astimezone(UTC)
        self._looked = (now, self._clock.monotonic())
        interrupted = self._ledger.recover()
        with self._lock:
            for task in self._tasks.values():
                self._ledger.load_cursor(task, now)
            self._catch_up(now, "the scheduler was not running", interrupted)
        self._log.info("scheduler started: %d scheduled task(s)", len(self._tasks))
        if ready is not None:
            ready()
        try:
            while True:
                with self._lock:
                    self._alarm = alarm = CancelToken()
                if stop.cancelled:
                    break
                delay = self.step()
                self._clock.sleep(delay, alarm)
        finally:
            self._shutdown()

    def reload(self, config: KeyarkConfig) -> None:
        """Use a new config from the next planning step on (running runs continue)."""
        tasks = scheduled_tasks(config)
        now = self._clock.now().astimezone(UTC)
        with self._lock:
            old = self._tasks
            added = sorted(set(tasks) - set(old))
            removed = sorted(set(old) - set(tasks))
            changed = sorted(name for name in set(tasks) & set(old) if tasks[name] != old[name])
            for name in removed + changed:
                self._pending.pop(name, None)
            for name in added:
                self._ledger.cursors.setdefault(name, now)  # a new task has missed nothing
            self._config, self._tasks = config, tasks
            self._alarm.cancel()
        self._log.info(
            "reload: %d scheduled task(s); added: %s; removed: %s; changed: %s",
            len(tasks),
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
            ", ".join(changed) or "none",
        )

    @property
    def running(self) -> list[str]:
        """The tasks with a run in a worker thread now."""
        with self._lock:
            return sorted(self._running)

    def step(self) -> float:
        """One planning step at the clock's now; returns the seconds to sleep until the next."""
        now = self._clock.now().astimezone(UTC)
        monotonic = self._clock.monotonic()
        with self._lock:
            if self._looked is not None:
                wall = (now - self._looked[0]).total_seconds()
                jumped = wall - (monotonic - self._looked[1]) > self._jump_threshold
                if jumped:
                    self._log.info(
                        "wall clock jumped %.0f s ahead of the monotonic clock "
                        "(machine asleep?): planning catch-up",
                        wall - (monotonic - self._looked[1]),
                    )
                    self._pending.clear()
                    self._catch_up(now, "the machine was asleep or its clock jumped", {})
            self._looked = (now, monotonic)
            self._plan(now)
            self._take_over(monotonic)
            self._dispatch(now)
            return self._next_sleep(now)

    # ---------------------------------------------------------------- planning
    def _catch_up(self, now: datetime, reason: str, interrupted: dict[str, list[datetime]]) -> None:
        zone = self._config.scheduler.zone()
        for task in self._tasks.values():
            plan = plan_catch_up(
                task,
                self._ledger.cursors[task.name],
                now,
                zone,
                reason=reason,
                interrupted=tuple(interrupted.get(task.name, ())),
            )
            self._apply_catch_up(plan, now)

    def _apply_catch_up(self, plan: CatchUp, now: datetime) -> None:
        task = plan.task
        self._ledger.note(task, "missed", plan.missed)
        if plan.run is not None:
            self._log.info(
                "%s %s: catch-up of the run due at %s",
                task.kind,
                task.name,
                plan.run.isoformat(),
            )
            self._pending[task.name] = Pending(task, plan.run, "catch-up", now)

    def _plan(self, now: datetime) -> None:
        zone = self._config.scheduler.zone()
        for name, task in self._tasks.items():
            self._ledger.load_cursor(task, now)
            pending = self._pending.get(name)
            after = pending.scheduled if pending else self._ledger.cursors[name]
            after = max(after, self._ledger.cursors[name])
            due = plan_due(task, after, now, zone)
            if due.newest is None:
                continue
            status = "skipped" if name in self._running else "missed"
            self._ledger.note(task, status, due.late)
            if pending is not None:
                reason = (
                    "no free slot before the next scheduled time"
                    if pending.waiting_since is not None
                    else "its random delay reached the next scheduled time"
                )
                self._ledger.note(
                    task, "skipped", [Missed(pending.scheduled, reason, "superseded")]
                )
            start_at = due.newest + task.delay(self._rng)
            self._pending[name] = Pending(task, due.newest, "schedule", start_at)

    def _dispatch(self, now: datetime) -> None:
        limit = self._config.scheduler.max_parallel_jobs
        ordered = sorted(self._pending.values(), key=lambda p: (p.start_at, p.task.name))
        for pending in ordered:
            task = pending.task
            if pending.start_at > now:
                continue
            active = self._running.get(task.name)
            if active is not None:
                del self._pending[task.name]
                reason = f"the run due at {active.scheduled.isoformat()} is still running"
                self._ledger.note(
                    task, "skipped", [Missed(pending.scheduled, reason, "still-running")]
                )
                continue
            if len(self._running) >= limit:
                if pending.waiting_since is None:
                    pending.waiting_since = now
                    self._log.info(
                        "%s %s: due at %s, waits for a free slot (%d of %d in use: %s)",
                        task.kind,
                        task.name,
                        pending.scheduled.isoformat(),
                        len(self._running),
                        limit,
                        ", ".join(sorted(self._running)),
                    )
                continue
            del self._pending[task.name]
            claim = self._claim(task, pending.scheduled)
            if self._claims is None or claim is not None:
                self._start(pending, now, claim)

    def _next_sleep(self, now: datetime) -> float:
        zone = self._config.scheduler.zone()
        wake = now + timedelta(seconds=self._max_sleep)
        for name, task in self._tasks.items():
            assert task.schedule is not None
            pending = self._pending.get(name)
            if pending is not None and pending.start_at > now:
                wake = min(wake, pending.start_at)
            after = max(self._ledger.cursors[name], now)
            wake = min(wake, task.schedule.next_after(after, zone).astimezone(UTC))
        return max(0.0, (wake - now).total_seconds())

    # ------------------------------------------------------------------- runs
    def _claim(self, task: Task, scheduled: datetime) -> Claim | None:
        """This instance's claim of the run (None: another instance has it, or no claims)."""
        if self._claims is None:
            return None
        try:
            claim = self._claims.claim(task.name, scheduled)
        except Exception as error:  # the database is away: the time stays due, tried again
            self._log.error("%s %s: cannot claim the run: %s", task.kind, task.name, error)
            return None
        if claim is None:
            self._log.info(
                "%s %s: the run due at %s is another instance's",
                task.kind,
                task.name,
                scheduled.isoformat(),
            )
            self._ledger.advance(task, scheduled)
        return claim

    def _take_over(self, monotonic: float) -> None:
        """Start the runs whose instance stopped renewing its claim (at most every
        third of a lease)."""
        claims = self._claims
        if claims is None or monotonic < self._takeover_look:
            return
        self._takeover_look = monotonic + claims.lease.total_seconds() / 3
        try:
            self._take_over_expired(claims)
        except Exception as error:  # the database is away: looked at again later
            self._log.error("cannot look for runs to take over: %s", error)

    def _take_over_expired(self, claims: TaskClaims) -> None:
        for expired in claims.expired():
            task = self._tasks.get(expired.task)
            if task is None or task.name in self._running:
                continue
            claim = claims.claim(task.name, expired.scheduled)
            if claim is None:
                continue
            self._log.warning(
                "%s %s: taking over the run due at %s from %s (its lease expired)",
                task.kind,
                task.name,
                expired.scheduled.isoformat(),
                claim.taken_over_from,
            )
            self._store.mark_taken_over(
                task.name, expired.scheduled, claim.taken_over_from or expired.instance
            )
            waiting = self._pending.get(task.name)
            if waiting is not None and waiting.scheduled <= expired.scheduled:
                del self._pending[task.name]
            pending = Pending(task, expired.scheduled, "takeover", self._clock.now())
            self._start(pending, self._clock.now(), claim)

    def _start(self, pending: Pending, now: datetime, claim: Claim | None = None) -> None:
        from keyark import ops

        task = pending.task
        options = ops.RunOptions(
            config=self._config,
            task=task.name,
            trigger=pending.trigger,
            scheduled=pending.scheduled,
            state_dir=self._store.directory,
        )
        active = Active(
            task, pending.scheduled, pending.trigger, CancelToken(), self._clock.monotonic(), claim
        )
        waited = ""
        if pending.waiting_since is not None:
            seconds = (now - pending.waiting_since).total_seconds()
            waited = f", waited {seconds:.1f} s for a free slot"
        self._log.info(
            "start %s %s (%s, due at %s%s)",
            task.kind,
            task.name,
            pending.trigger,
            pending.scheduled.isoformat(),
            waited,
        )
        self._running[task.name] = active
        self._ledger.advance(task, pending.scheduled)
        active.thread = threading.Thread(
            target=self._work, args=(active, options), name=f"keyark-run-{task.name}"
        )
        active.thread.start()

    def _work(self, active: Active, options: RunOptions) -> None:
        task = active.task
        try:
            from keyark import ops

            with ops.claim_held(self._claims, active.claim):
                result = self._runner(options, active.token)
            record = result.record
            seconds = record.duration
            if seconds is None:
                seconds = self._clock.monotonic() - active.started
            self._log.info(
                "end %s %s: %s%s, %.1f s%s",
                task.kind,
                task.name,
                record.status,
                f", snapshot {record.snapshot_id[:8]}" if record.snapshot_id else "",
                seconds,
                f" ({record.error})" if record.error else "",
            )
        except (Exception, CancelledError) as error:  # a runner's failure ends only its run
            self._log.error("end %s %s: failed: %s", task.kind, task.name, error)
            self._ledger.record_failure(active.task, active.trigger, active.scheduled, error)
        finally:
            with self._lock:
                self._running.pop(task.name, None)
                self._alarm.cancel()
            if self._on_run_end is not None:
                try:
                    self._on_run_end()
                except Exception as error:  # a listener never ends the scheduler
                    self._log.error("after %s %s: %s", task.kind, task.name, error)

    def _watch(self, stop: CancelToken) -> None:
        """Wake the loop as soon as ``stop`` is cancelled."""
        while not stop.cancelled:
            try:
                stop.sleep(3600.0)
            except CancelledError:
                break
        with self._lock:
            self._alarm.cancel()

    def _shutdown(self) -> None:
        with self._lock:
            running = list(self._running.values())
            for active in running:
                active.token.cancel("cancelled because the scheduler is stopping")
        if running:
            self._log.info(
                "stopping: cancelled %d running run(s): %s",
                len(running),
                ", ".join(active.task.name for active in running),
            )
        for active in running:
            if active.thread is not None:
                active.thread.join()
        self._log.info("scheduler stopped")
