"""The alert history on the control database: SQLite (one server) and a real PostgreSQL
(several servers). Two stores on one database share the history; servers racing to raise
the same check transition, job event or delivery get one grant between them."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from keyark.control.database import PostgresDatabase
from keyark.monitor.alert_store import AlertStore, Delivery
from keyark.monitor.model import Alert, Level

T = TypeVar("T")
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
#: Servers racing in each test.
RACERS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], AlertStore]:
    """Makes stores on one database, each with its own database object (as servers do)."""
    if request.param == "sqlite":
        return lambda: AlertStore(tmp_path / "state")
    url = request.getfixturevalue("postgres_url")
    return lambda: AlertStore(tmp_path / "state", database=PostgresDatabase(url))


def race(work: Callable[[AlertStore], T], stores: Callable[[], AlertStore]) -> list[T]:
    """``work`` on RACERS stores in threads released together; their results."""
    racers = [stores() for _ in range(RACERS)]
    racers[0].alerts()  # the schema exists before the race (migrations lock on their own)
    gate = threading.Barrier(RACERS)
    results: list[T] = []
    lock = threading.Lock()

    def run(store: AlertStore) -> None:
        gate.wait()
        result = work(store)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(store,)) for store in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == RACERS
    return results


def alert(
    key: str = "check:locks", level: Level = Level.WARNING, kind: str = "transition"
) -> Alert:
    return Alert(key, level, f"{level.label}: {key}", "message", NOW, kind, Level.OK)


def test_two_servers_share_one_alert_history(stores: Callable[[], AlertStore]) -> None:
    first, second = stores(), stores()
    raised = first.record(alert())
    resolved = first.record(
        Alert(
            "check:locks", Level.OK, "RESOLVED", "ok", NOW + timedelta(1), "resolved", Level.WARNING
        )
    )
    second.record(alert("check:load", Level.INFO, "transition"))
    assert [a.id for a in second.alerts()] == [raised.id, resolved.id, raised.id + 2]  # type: ignore[operator]
    # a resolved alert counts at the level it ended; INFO is below WARNING
    assert [a.id for a in second.alerts(min_level=Level.WARNING)] == [raised.id, resolved.id]
    assert [a.key for a in first.alerts(since=NOW + timedelta(hours=1))] == ["check:locks"]
    first.set_meta("job_events_started", "x")
    assert second.meta("job_events_started") == "x"
    delivery = second.add_delivery(Delivery("mail", "check:locks", Level.WARNING, "failed", NOW))
    assert first.failure_counts() == {"mail": 1} and delivery.id is not None


def test_one_of_several_servers_raises_a_check_transition(
    stores: Callable[[], AlertStore],
) -> None:
    changed = race(lambda s: s.change_check_state("check:locks", Level.WARNING, NOW), stores)
    assert sorted(changed, key=str) == [Level.OK] + [None] * (RACERS - 1)
    # the level holds: nobody raises it again; a return to OK is one "resolved"
    assert stores().change_check_state("check:locks", Level.WARNING, NOW) is None
    back = race(lambda s: s.change_check_state("check:locks", Level.OK, NOW), stores)
    assert sorted(back, key=str) == [Level.WARNING] + [None] * (RACERS - 1)
    state = stores().check_state("check:locks")
    assert state is not None and state.level == Level.OK


def test_positive_control_read_then_write_raises_it_on_every_server(
    stores: Callable[[], AlertStore],
) -> None:
    """The race the lock closes: reading the level, then writing it, lets every server see
    the change (so the test above could fail)."""
    read = threading.Barrier(RACERS)

    def unlocked(store: AlertStore) -> Level | None:
        state = store.check_state("check:locks")
        read.wait()  # every server has read before any writes
        store.set_check_state("check:locks", Level.WARNING, NOW)
        previous = state.level if state is not None else Level.OK
        return None if previous == Level.WARNING else previous

    assert race(unlocked, stores) == [Level.OK] * RACERS


def test_one_of_several_servers_sends_a_delivery(stores: Callable[[], AlertStore]) -> None:
    window = NOW - timedelta(hours=1)

    def queue(store: AlertStore) -> bool:
        return store.queue_delivery(Delivery("mail", "check:locks", Level.WARNING, "", NOW), window)

    assert sorted(race(queue, stores)) == [False] * (RACERS - 1) + [True]
    store = stores()
    statuses = sorted(d.status for d in store.deliveries(channel="mail"))
    assert statuses == ["pending"] + ["suppressed"] * (RACERS - 1)
    # another level, another channel, or no repeat look: queued
    assert store.queue_delivery(Delivery("mail", "check:locks", Level.CRITICAL, "", NOW), window)
    assert store.queue_delivery(Delivery("chat", "check:locks", Level.WARNING, "", NOW), window)
    assert store.queue_delivery(Delivery("mail", "check:locks", Level.WARNING, "", NOW), None)
    # a delivery older than the repeat window does not suppress
    later = NOW + timedelta(hours=2)
    assert store.queue_delivery(
        Delivery("mail", "check:locks", Level.WARNING, "", later), later - timedelta(hours=1)
    )


def test_one_of_several_servers_raises_a_job_event(stores: Callable[[], AlertStore]) -> None:
    assert sorted(race(lambda s: s.claim_run(41), stores)) == [False] * (RACERS - 1) + [True]
    store = stores()
    store.mark_runs([41, 42])
    assert store.handled_runs([40, 41, 42]) == {41, 42}
    assert not store.claim_run(42)


#: The schema ``alerts.db`` had before the control database (no schema versions).
OLD_SCHEMA = """
CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,
    level INTEGER NOT NULL, previous INTEGER, kind TEXT NOT NULL, title TEXT NOT NULL,
    message TEXT NOT NULL, time TEXT NOT NULL);
CREATE INDEX alerts_time ON alerts (time);
CREATE TABLE check_states (key TEXT PRIMARY KEY, level INTEGER NOT NULL, since TEXT NOT NULL,
    checked TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, alert INTEGER,
    key TEXT NOT NULL, level INTEGER NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, time TEXT NOT NULL, error TEXT);
CREATE INDEX deliveries_channel ON deliveries (channel, key, time);
CREATE TABLE handled_runs (run INTEGER PRIMARY KEY);
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO alerts (key, level, previous, kind, title, message, time)
    VALUES ('check:locks', 2, 0, 'transition', 'WARNING', 'old', '2026-01-01T00:00:00+00:00');
INSERT INTO check_states VALUES ('check:locks', 2, '2026-01-01T00:00:00+00:00',
    '2026-01-01T00:00:00+00:00', 'old');
INSERT INTO meta VALUES ('job_events_started', '2026-01-01');
"""


def test_an_alerts_file_of_before_the_control_database_is_migrated(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    connection = sqlite3.connect(state / "alerts.db")
    connection.executescript(OLD_SCHEMA)
    connection.close()
    store = AlertStore(state)
    assert [a.message for a in store.alerts()] == ["old"]
    assert store.meta("job_events_started") == "2026-01-01"
    assert store.change_check_state("check:locks", Level.WARNING, NOW) is None
    assert store.record(alert()).id == 2


def test_one_server_s_alerts_file_is_private(tmp_path: Path) -> None:
    AlertStore(tmp_path / "state").record(alert())
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state" / "alerts.db").stat().st_mode & 0o777 == 0o600
