"""The scheduler's pure planning: tasks of a config, scans of missed times, catch-up
decisions and the ``schedule`` table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.scheduler_harness import BERLIN, berlin, config

from keyark.config.document import KeyarkConfig
from keyark.config.schedule import parse_schedule
from keyark.daemon.planner import (
    MAX_MISSED_ROWS,
    Task,
    all_tasks,
    plan_catch_up,
    plan_due,
    scan,
    schedule_table,
    scheduled_tasks,
)
from keyark.state.runs import RunRecord, RunStore


def _task(schedule: str, **options: object) -> Task:
    return Task("job", "backup", parse_schedule(schedule), **options)  # type: ignore[arg-type]


def test_tasks_of_a_config() -> None:
    document = KeyarkConfig.model_validate(
        {
            "repositories": {"main": {"url": "/r", "password_file": "/p"}},
            "jobs": {
                "tls": {"repository": "main", "sources": ["/etc"], "schedule": "0 2 * * *"},
                "manual": {"repository": "main", "sources": ["/etc"]},
            },
            "maintenance": {
                "check": {"schedule": "0 4 * * 0", "catch_up": "skip"},
                "rotate": {"max_age_days": 90},
            },
        }
    )
    found = {(t.name, t.kind, str(t.schedule) if t.schedule else None) for t in all_tasks(document)}
    assert found == {
        ("tls", "backup", "0 2 * * *"),
        ("manual", "backup", None),
        ("maintenance.check", "check", "0 4 * * 0"),
        ("maintenance.rotate", "rotate", None),
    }
    assert sorted(scheduled_tasks(document)) == ["maintenance.check", "tls"]
    assert scheduled_tasks(document)["maintenance.check"].catch_up == "skip"


@pytest.mark.parametrize("text", ["every 1s", "every 7m", "*/5 * * * *", "30 2 * * *"])
def test_scan_matches_the_naive_walk(text: str) -> None:
    """The interval skip-ahead gives the same newest times and counts as walking them all."""
    schedule = parse_schedule(text)
    after = berlin(2024, 3, 30, 20, 0)
    until = berlin(2024, 3, 31, 4, 0)  # across the spring-forward night: 7 hours
    every = [t.astimezone(UTC) for t in schedule.times_between(after, until, BERLIN)]
    found = scan(schedule, after, until, BERLIN, MAX_MISSED_ROWS)
    assert found.times == every[-MAX_MISSED_ROWS:]
    assert found.total == len(every)
    if len(every) > MAX_MISSED_ROWS:
        assert found.earlier_first == every[0]
        assert found.earlier_last == every[-MAX_MISSED_ROWS - 1]
    assert all(t.tzinfo is UTC for t in found.times)
    if text == "every 1s":
        assert found.total == 7 * 3600  # not the 8 hours of wall-clock difference


def test_a_summary_row_stands_for_the_older_times() -> None:
    task = _task("every 1s", catch_up="skip")
    now = datetime(2024, 3, 7, tzinfo=UTC)
    plan = plan_catch_up(task, now - timedelta(days=3), now, UTC, reason="asleep")
    assert plan.run is None
    assert len(plan.missed) == MAX_MISSED_ROWS + 1
    summary = plan.missed[0]
    assert summary.count == 3 * 86400 - MAX_MISSED_ROWS
    assert summary.message.startswith(f"{summary.count} scheduled times from 2024-03-04T00:00:01")
    assert plan.missed[1].count == 1 and plan.missed[1].message == "asleep"
    assert plan.handled == now


def test_run_once_runs_the_newest_within_the_window() -> None:
    task = _task("0 2 * * *")
    cursor = datetime(2024, 3, 4, 2, tzinfo=UTC)
    now = datetime(2024, 3, 7, 9, tzinfo=UTC)
    plan = plan_catch_up(task, cursor, now, UTC, reason="down")
    assert plan.run == datetime(2024, 3, 7, 2, tzinfo=UTC)
    assert [row.scheduled.day for row in plan.missed] == [5, 6]
    late = plan_catch_up(
        _task("0 2 * * *", catch_up_window=timedelta(hours=6)), cursor, now, UTC, reason="down"
    )
    assert late.run is None  # control: 7 h old, outside a 6 h window
    assert [row.code for row in late.missed] == ["outside-catch-up-window"] * 3


def test_an_interrupted_time_is_caught_up_without_a_missed_row() -> None:
    task = _task("0 2 * * *")
    due = datetime(2024, 3, 7, 2, tzinfo=UTC)
    plan = plan_catch_up(
        task, due, due + timedelta(minutes=5), UTC, reason="down", interrupted=(due,)
    )
    assert plan.run == due and plan.missed == []
    skip = plan_catch_up(
        _task("0 2 * * *", catch_up="skip"),
        due,
        due + timedelta(minutes=5),
        UTC,
        reason="down",
        interrupted=(due,),
    )
    assert skip.run is None and skip.missed == []  # its failed row already says it


def test_nothing_missed_plans_nothing() -> None:
    now = datetime(2024, 3, 7, 9, tzinfo=UTC)
    assert plan_catch_up(_task("0 2 * * *"), now, now, UTC, reason="down").run is None
    assert plan_due(_task("0 2 * * *"), now, now, UTC).newest is None


def test_schedule_table(tmp_path: Path) -> None:
    document = config({"a": {"schedule": "30 2 * * *"}, "b": {}})
    store = RunStore(tmp_path)
    store.record(RunRecord(job="a", kind="backup", trigger="schedule", status="success"))
    table = schedule_table(document, store, berlin(2024, 3, 30, 12, 0))
    assert [(row.name, row.schedule) for row in table] == [("a", "30 2 * * *"), ("b", None)]
    assert table[0].next == berlin(2024, 3, 31, 3, 0)  # spring forward
    assert table[0].last is not None and table[0].last.status == "success"
    assert table[1].next is None and table[1].last is None
    data = table[0].to_dict()
    assert data["next"] == "2024-03-31T03:00:00+02:00" and data["last"]["status"] == "success"
