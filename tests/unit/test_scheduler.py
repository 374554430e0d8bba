"""The scheduler loop on a controllable clock (issue 12 §4): DST, catch-up, overlap,
parallelism, stop, reload, crash recovery.

Each test serves a real :class:`~keyark.daemon.scheduler.Scheduler` over a real history
store; the clock is simulated (:mod:`tests.unit.scheduler_harness`) and the runner is a
fake that records its calls and writes rows as the ``run`` operation does (the real
pipeline is tested in tests/integration/test_jobs*.py, the daemon end to end in
tests/e2e/test_daemon*.py).
"""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from pathlib import Path

from tests.unit.scheduler_harness import BERLIN, Harness, berlin, config

from keyark import ops
from keyark.cancel import CancelToken
from keyark.errors import UsageError
from keyark.state.runs import RunRecord, RunStore

DAILY = {"nightly": {"schedule": "30 2 * * *"}}


def nights(harness: Harness) -> list[str]:
    return harness.local([call.scheduled for call in harness.runner.calls])


# ------------------------------------------------------------------------- DST
def test_spring_forward_runs_once_at_three(tmp_path: Path) -> None:
    """02:30 does not exist on 2024-03-31 in Berlin: the job runs at 03:00, once."""
    harness = Harness(tmp_path, config(DAILY), berlin(2024, 3, 29, 12, 0))
    harness.run_until(berlin(2024, 4, 1, 12, 0))
    assert nights(harness) == ["03-30 02:30", "03-31 03:00", "04-01 02:30"]
    started = harness.local([call.started for call in harness.runner.calls])
    assert started == nights(harness)
    assert [call.trigger for call in harness.runner.calls] == ["schedule"] * 3
    assert harness.rows("missed") == [] and harness.rows("skipped") == []


def test_fall_back_runs_once_though_the_hour_repeats(tmp_path: Path) -> None:
    """02:30 happens twice on 2024-10-27 in Berlin: a daily job runs once; an hourly job
    (the positive control: the harness does see repeated wall times) runs at both 02:00."""
    jobs = {**DAILY, "hourly": {"schedule": "0 * * * *"}}
    harness = Harness(tmp_path, config(jobs, max_parallel_jobs=2), berlin(2024, 10, 26, 12, 0))
    harness.run_until(berlin(2024, 10, 28, 12, 0))
    daily = [c.scheduled for c in harness.runner.calls if c.task == "nightly" and c.scheduled]
    assert harness.local(daily) == ["10-27 02:30", "10-28 02:30"]
    offsets = [d.astimezone(BERLIN).utcoffset() for d in daily]
    assert offsets == [timedelta(hours=2), timedelta(hours=1)]
    hourly = [c.scheduled for c in harness.runner.calls if c.task == "hourly"]
    on_the_night = [t for t in harness.local(hourly) if t.startswith("10-27 02")]
    assert on_the_night == ["10-27 02:00", "10-27 02:00"]
    assert len(hourly) == 49  # 10-26 13..23h: 11, 10-27: 25 (02h twice), 10-28 00..12h: 13


# -------------------------------------------------------------------- catch-up
def test_a_missed_night_is_caught_up_once(tmp_path: Path) -> None:
    """Down over Tuesday's 02:30: on start at 08:00 the job runs once (catch-up), then
    Wednesday's run is an ordinary one."""
    harness = Harness(tmp_path, config(DAILY), berlin(2024, 3, 5, 8, 0))
    harness.store.set_cursor("nightly", berlin(2024, 3, 4, 2, 30))
    harness.run_until(berlin(2024, 3, 6, 12, 0))
    calls = harness.runner.calls
    assert [(c.trigger, *harness.local([c.scheduled, c.started])) for c in calls] == [
        ("catch-up", "03-05 02:30", "03-05 08:00"),
        ("schedule", "03-06 02:30", "03-06 02:30"),
    ]
    assert harness.rows("missed") == []
    assert [r.trigger for r in harness.rows("success")] == ["catch-up", "schedule"]
    assert any("catch-up of the run due at" in line for line in harness.log.lines)


def test_first_start_has_missed_nothing(tmp_path: Path) -> None:
    """No cursor yet (the control of the test above): nothing is caught up."""
    harness = Harness(tmp_path, config(DAILY), berlin(2024, 3, 5, 8, 0))
    harness.run_until(berlin(2024, 3, 6, 12, 0))
    assert [c.trigger for c in harness.runner.calls] == ["schedule"]
    assert harness.rows("missed") == []


def three_day_sleep(tmp_path: Path, catch_up: str, **options: object) -> Harness:
    """Running from Monday noon; the machine sleeps Monday 20:00 to Thursday 20:00."""
    threshold = float(str(options.pop("jump_threshold", 60.0)))
    job = {"nightly": {"schedule": "30 2 * * *", "catch_up": catch_up, **options}}
    harness = Harness(tmp_path, config(job), berlin(2024, 3, 4, 12, 0), jump_threshold=threshold)
    harness.clock.suspend_at(berlin(2024, 3, 4, 20, 0), timedelta(days=3))
    harness.run_until(berlin(2024, 3, 8, 12, 0))
    return harness


def test_three_day_sleep_with_run_once(tmp_path: Path) -> None:
    harness = three_day_sleep(tmp_path, "run-once")
    calls = harness.runner.calls
    assert [(c.trigger, *harness.local([c.scheduled, c.started])) for c in calls] == [
        ("catch-up", "03-07 02:30", "03-07 20:00"),
        ("schedule", "03-08 02:30", "03-08 02:30"),
    ]
    missed = harness.rows("missed")
    assert harness.local([r.scheduled for r in missed]) == ["03-05 02:30", "03-06 02:30"]
    assert {r.error_code for r in missed} == {"missed"}
    assert all("asleep" in (r.error or "") for r in missed)
    assert any("wall clock jumped" in line for line in harness.log.lines)


def test_three_day_sleep_with_skip(tmp_path: Path) -> None:
    harness = three_day_sleep(tmp_path, "skip")
    assert [c.trigger for c in harness.runner.calls] == ["schedule"]
    assert harness.local([harness.runner.calls[0].scheduled]) == ["03-08 02:30"]
    missed = harness.rows("missed")
    assert harness.local([r.scheduled for r in missed]) == [
        "03-05 02:30",
        "03-06 02:30",
        "03-07 02:30",
    ]


def test_newest_missed_time_outside_the_window_is_not_run(tmp_path: Path) -> None:
    """Thursday 02:30 is 17.5 h old at 20:00: with a 1h window nothing is caught up
    (the run-once test above, with the default 24h window, is the control)."""
    harness = three_day_sleep(tmp_path, "run-once", catch_up_window="1h")
    assert [c.trigger for c in harness.runner.calls] == ["schedule"]
    missed = harness.rows("missed")
    assert len(missed) == 3
    assert {r.error_code for r in missed} == {"outside-catch-up-window"}
    assert "catch-up window (1h)" in (missed[-1].error or "")


def test_an_unnoticed_jump_is_not_a_catch_up(tmp_path: Path) -> None:
    """Control of the wake detection: with a threshold longer than the sleep, the times
    are planned as ordinary late times (trigger schedule, rows coded ``late``)."""
    harness = three_day_sleep(tmp_path, "run-once", jump_threshold=10 * 86400.0)
    assert [c.trigger for c in harness.runner.calls] == ["schedule", "schedule"]
    assert {r.error_code for r in harness.rows("missed")} == {"late"}


def test_a_long_sleep_of_a_frequent_job_has_bounded_rows(tmp_path: Path) -> None:
    """``every 1m`` over three days asleep: 50 rows of single times and one summary row."""
    job = {"often": {"schedule": "every 1m", "catch_up": "skip"}}
    harness = Harness(tmp_path, config(job), berlin(2024, 3, 4, 12, 0))
    harness.clock.suspend_at(berlin(2024, 3, 4, 12, 3), timedelta(days=3))
    harness.run_until(berlin(2024, 3, 7, 12, 4))
    missed = harness.rows("missed")
    assert len(missed) == 51
    summary = missed[0]
    # asleep from 12:03 Monday (before its run) to 12:03 Thursday: 3 days of minutes + 1
    assert summary.error is not None and summary.error.startswith(
        f"{3 * 24 * 60 + 1 - 50} scheduled times from 2024-03-04T11:03:00+00:00 to "
    )
    assert harness.local([missed[1].scheduled, missed[-1].scheduled]) == [
        "03-07 11:14",
        "03-07 12:03",
    ]
    assert nights(harness) == ["03-04 12:01", "03-04 12:02", "03-07 12:04"]


# ---------------------------------------------------------------- no overlap
def every_ten_minutes(tmp_path: Path, duration: timedelta) -> Harness:
    harness = Harness(
        tmp_path,
        config({"slow": {"schedule": "every 10m"}}),
        berlin(2024, 3, 4, 0, 5),
        durations={"slow": duration},
    )
    harness.run_until(berlin(2024, 3, 4, 1, 5))
    return harness


def test_a_job_longer_than_its_interval_is_never_run_twice(tmp_path: Path) -> None:
    harness = every_ten_minutes(tmp_path, timedelta(minutes=25))
    assert nights(harness) == ["03-04 00:10", "03-04 00:40"]
    assert harness.runner.overlaps == [] and harness.runner.most_at_once == 1
    skipped = harness.rows("skipped")
    assert harness.local([r.scheduled for r in skipped]) == [
        "03-04 00:20",
        "03-04 00:30",
        "03-04 00:50",
        "03-04 01:00",
    ]
    assert {r.error_code for r in skipped} == {"still-running"}
    assert "is still running" in (skipped[0].error or "")


def test_a_job_shorter_than_its_interval_runs_every_time(tmp_path: Path) -> None:
    """Control: nothing is skipped when the run ends before its next time."""
    harness = every_ten_minutes(tmp_path, timedelta(minutes=5))
    assert len(harness.runner.calls) == 6
    assert harness.rows("skipped") == []


def two_jobs_at_two(tmp_path: Path, parallel: int) -> Harness:
    jobs = {"a": {"schedule": "0 2 * * *"}, "b": {"schedule": "0 2 * * *"}}
    harness = Harness(
        tmp_path,
        config(jobs, max_parallel_jobs=parallel),
        berlin(2024, 3, 4, 1, 0),
        durations={"a": timedelta(minutes=10), "b": timedelta(minutes=10)},
    )
    harness.run_until(berlin(2024, 3, 4, 3, 0))
    return harness


def test_max_parallel_jobs_one_makes_the_second_job_wait(tmp_path: Path) -> None:
    harness = two_jobs_at_two(tmp_path, 1)
    starts = {c.task: harness.local([c.started])[0] for c in harness.runner.calls}
    assert starts == {"a": "03-04 02:00", "b": "03-04 02:10"}
    assert harness.runner.most_at_once == 1
    assert any(
        "b: due at" in line and "waits for a free slot" in line for line in harness.log.lines
    )
    assert any("waited 600.0 s for a free slot" in line for line in harness.log.lines)
    assert harness.rows("skipped") == [] and harness.rows("missed") == []


def test_max_parallel_jobs_two_runs_both_at_once(tmp_path: Path) -> None:
    """Control: with two slots both start at 02:00."""
    harness = two_jobs_at_two(tmp_path, 2)
    assert {harness.local([c.started])[0] for c in harness.runner.calls} == {"03-04 02:00"}
    assert harness.runner.most_at_once == 2


def test_random_delay_starts_within_the_delay(tmp_path: Path) -> None:
    jobs = {"jittered": {"schedule": "every 1h", "random_delay": "10m"}}
    harness = Harness(tmp_path, config(jobs), berlin(2024, 3, 4, 0, 0))
    harness.run_until(berlin(2024, 3, 4, 6, 30))
    calls = harness.runner.calls
    assert len(calls) == 6
    delays = [(c.started - c.scheduled).total_seconds() for c in calls if c.scheduled]
    assert all(0 <= d <= 600 for d in delays)
    assert len(set(delays)) > 1 and max(delays) > 0  # control: not all at the due time
    assert [c.scheduled for c in calls] == sorted(c.scheduled for c in calls if c.scheduled)


# ------------------------------------------------------------- stop and reload
def test_stop_cancels_the_running_run_and_waits_for_it(tmp_path: Path) -> None:
    """A SIGTERM-style stop at 02:30 during a one-hour run: the run's token is
    cancelled, and serve returns only after the run has unwound (0.3 s of real time)."""
    harness = Harness(
        tmp_path,
        config({"long": {"schedule": "0 2 * * *"}}),
        berlin(2024, 3, 4, 1, 0),
        durations={"long": timedelta(hours=1)},
    )
    harness.runner.unwind = 0.3
    began = time.monotonic()
    harness.run_until(berlin(2024, 3, 4, 2, 30))
    assert time.monotonic() - began >= 0.3
    (call,) = harness.runner.calls
    assert call.cancelled and call.finished is not None  # ended before serve returned
    assert harness.local([call.finished]) == ["03-04 02:30"]
    (row,) = harness.rows()
    assert (row.status, row.error_code) == ("failed", "cancelled")
    assert harness.scheduler.running == []
    assert harness.store.cursor("long") == berlin(2024, 3, 4, 2, 0)
    assert any("cancelled 1 running run(s): long" in line for line in harness.log.lines)


def test_reload_adds_removes_and_changes_tasks(tmp_path: Path) -> None:
    first = {
        "a": {"schedule": "0 * * * *"},
        "c": {"schedule": "0 */2 * * *"},
    }
    second = {
        "b": {"schedule": "15 * * * *"},
        "c": {"schedule": "30 * * * *"},
    }
    harness = Harness(
        tmp_path,
        config(first, max_parallel_jobs=3),
        berlin(2024, 3, 4, 0, 30),
        durations={"a": timedelta(minutes=40)},
    )
    harness.clock.at(berlin(2024, 3, 4, 5, 20), lambda: harness.scheduler.reload(config(second)))
    harness.run_until(berlin(2024, 3, 4, 7, 45))

    def runs(task: str) -> list[str]:
        return harness.local([c.scheduled for c in harness.runner.calls if c.task == task])

    assert runs("a") == [f"03-04 0{h}:00" for h in range(1, 6)]
    last_a = [c for c in harness.runner.calls if c.task == "a"][-1]
    assert not last_a.cancelled and harness.local([last_a.finished]) == ["03-04 05:40"]
    assert runs("b") == ["03-04 06:15", "03-04 07:15"]
    assert runs("c") == ["03-04 02:00", "03-04 04:00", "03-04 05:30", "03-04 06:30", "03-04 07:30"]
    assert any("added: b; removed: a; changed: c" in line for line in harness.log.lines)


# ------------------------------------------------------------- crash recovery
def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _stale_run(store: RunStore, pid: int) -> RunRecord:
    due = berlin(2024, 3, 5, 2, 30)
    store.set_cursor("nightly", due)
    return store.start(
        RunRecord(
            job="nightly",
            kind="backup",
            trigger="schedule",
            scheduled=due,
            started=due,
            pid=pid,
        )
    )


def test_a_run_of_a_dead_process_is_interrupted_and_caught_up_once(tmp_path: Path) -> None:
    harness = Harness(tmp_path, config(DAILY), berlin(2024, 3, 5, 2, 35))
    stale = _stale_run(harness.store, _dead_pid())
    harness.run_until(berlin(2024, 3, 5, 12, 0))
    (row,) = [r for r in harness.rows() if r.id == stale.id]
    assert (row.status, row.error_code) == ("failed", "interrupted")
    calls = harness.runner.calls
    assert [(c.trigger, *harness.local([c.scheduled, c.started])) for c in calls] == [
        ("catch-up", "03-05 02:30", "03-05 02:35"),
    ]
    # a second start finds nothing left to do: caught up once
    again = Harness(tmp_path, config(DAILY), berlin(2024, 3, 5, 12, 5))
    again.run_until(berlin(2024, 3, 5, 13, 0))
    assert again.runner.calls == []
    assert [r.status for r in again.rows()] == ["failed", "success"]


def test_a_run_of_a_live_process_is_left_alone(tmp_path: Path) -> None:
    """Control: the same row whose process is alive (a manual run in another process)."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        harness = Harness(tmp_path, config(DAILY), berlin(2024, 3, 5, 2, 35))
        stale = _stale_run(harness.store, sleeper.pid)
        harness.run_until(berlin(2024, 3, 5, 12, 0))
        (row,) = [r for r in harness.rows() if r.id == stale.id]
        assert row.status == "running"
        assert harness.runner.calls == []
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_reused_pid_does_not_keep_a_run_alive(tmp_path: Path) -> None:
    """A live process with the row's pid but another start time is not the run's process."""
    import sqlite3

    harness = Harness(tmp_path, config(DAILY), berlin(2024, 3, 5, 2, 35))
    import os

    stale = _stale_run(harness.store, os.getpid())
    with sqlite3.connect(harness.store.path) as db:
        db.execute("UPDATE processes SET identity = 'another-boot:1' WHERE run = ?", (stale.id,))
    harness.run_until(berlin(2024, 3, 5, 12, 0))
    (row,) = [r for r in harness.rows() if r.id == stale.id]
    assert (row.status, row.error_code) == ("failed", "interrupted")
    assert [c.trigger for c in harness.runner.calls] == ["catch-up"]


def test_a_runner_that_raises_fails_only_its_run(tmp_path: Path) -> None:
    """The run ends ``failed`` with the error's code; the next time runs as usual."""
    harness = Harness(tmp_path, config({"flaky": {"schedule": "every 1h"}}), berlin(2024, 3, 4))
    recording = harness.runner
    calls: list[str] = []

    def runner(options: ops.RunOptions, token: CancelToken) -> ops.JobRun:
        calls.append(options.task)
        if len(calls) == 1:
            raise UsageError("no job named 'flaky'")
        return recording(options, token)

    harness.scheduler._runner = runner  # the harness's runner, failing once
    harness.run_until(berlin(2024, 3, 4, 2, 30))
    assert calls == ["flaky", "flaky"]
    rows = harness.rows()
    assert [(r.status, r.error_code) for r in rows] == [("failed", "usage"), ("success", None)]
    assert rows[0].error == "no job named 'flaky'"
    assert any("end backup flaky: failed: no job named" in line for line in harness.log.lines)
