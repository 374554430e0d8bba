"""The control storage interface on SQLite and on a real PostgreSQL: run history, migrations,
task claims with leases."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import CLI

from keyark.config.server import ServerSection
from keyark.control.claims import Claim, TaskClaims
from keyark.control.database import (
    ControlDatabase,
    DatabaseUrlError,
    PostgresDatabase,
    SqliteDatabase,
    check_database_url,
)
from keyark.control.migrations import migrate
from keyark.state.runs import RunRecord, RunStore, StepRecord

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlDatabase]:
    if request.param == "sqlite":
        yield SqliteDatabase(tmp_path / "state" / "state.db")
    else:
        yield PostgresDatabase(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(database: ControlDatabase, tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "state", database=database)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# ------------------------------------------------------------------ run history
def test_runs_round_trip(store: RunStore) -> None:
    record = store.start(
        RunRecord(job="nightly", kind="backup", trigger="schedule", scheduled=T0, started=T0)
    )
    assert record.id is not None
    record.status, record.finished = "success", T0 + timedelta(seconds=5)
    record.bytes_added = 5 * 2**32  # beyond 32 bits
    record.duration = 5.25
    record.steps = [StepRecord("backup", "success", 4.5)]
    store.update(record)
    (back,) = store.runs("nightly")
    assert back == record
    assert store.last("nightly", status="success") == record
    assert store.last("nightly", status="failed") is None


def test_runs_filters_and_limit(store: RunStore) -> None:
    for hour in range(5):
        moment = T0 + timedelta(hours=hour)
        status = "success" if hour % 2 == 0 else "failed"
        store.record(
            RunRecord(job=f"j{hour % 2}", kind="backup", trigger="schedule", status=status,
                      scheduled=moment, started=moment)
        )  # fmt: skip
    assert [r.started.hour for r in store.runs() if r.started] == [2, 3, 4, 5, 6]
    assert [r.started.hour for r in store.runs(limit=2) if r.started] == [5, 6]
    assert [r.job for r in store.runs(status="failed")] == ["j1", "j1"]
    since = store.runs(since=T0 + timedelta(hours=3))
    assert [r.started.hour for r in since if r.started] == [5, 6]
    assert len(store.runs("j0")) == 3


def test_record_all_and_cursors(store: RunStore) -> None:
    assert store.cursor("nightly") is None
    rows = [
        RunRecord(job="nightly", kind="backup", trigger="schedule", status="missed",
                  scheduled=T0 + timedelta(days=d))
        for d in range(3)
    ]  # fmt: skip
    store.record_all(rows, cursor=("nightly", T0 + timedelta(days=2)))
    assert all(r.id is not None for r in rows)
    assert store.cursor("nightly") == T0 + timedelta(days=2)
    store.set_cursor("nightly", T0 + timedelta(days=3))
    assert store.cursor("nightly") == T0 + timedelta(days=3)


def test_interrupted_and_live_runs(store: RunStore) -> None:
    dead = store.start(RunRecord(job="a", kind="backup", trigger="schedule", pid=_dead_pid()))
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        live = store.start(RunRecord(job="b", kind="backup", trigger="schedule", pid=sleeper.pid))
        assert [r.id for r in store.mark_interrupted()] == [dead.id]
        statuses = {r.job: (r.status, r.error_code) for r in store.runs()}
        assert statuses == {"a": ("failed", "interrupted"), "b": ("running", None)}
        assert live.id is not None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_mark_taken_over_only_touches_that_run(store: RunStore) -> None:
    for moment in (T0, T0 + timedelta(hours=1)):
        store.start(
            RunRecord(job="prune", kind="prune", trigger="schedule", scheduled=moment, pid=1)
        )
    (taken,) = store.mark_taken_over("prune", T0, "host:1:abc")
    assert (taken.status, taken.error_code) == ("failed", "taken-over")
    assert "host:1:abc" in (taken.error or "")
    assert [r.status for r in store.runs("prune")] == ["failed", "running"]


# ------------------------------------------------------------------ migrations
def test_migrations_apply_once_and_in_order(database: ControlDatabase) -> None:
    steps = [("CREATE TABLE m1 (id {serial}, v TEXT)",), ("ALTER TABLE m1 ADD COLUMN w TEXT",)]
    assert migrate(database, "test-m", steps[:1]) == 1
    with database.transaction() as db:
        db.insert("INSERT INTO m1 (v) VALUES (?)", ("kept",))
    assert migrate(database, "test-m", steps) == 2
    assert migrate(database, "test-m", steps) == 2  # again: nothing to do (no duplicate column)
    with database.transaction() as db:
        assert db.execute("SELECT v, w FROM m1") == [{"v": "kept", "w": None}]
        versions = db.execute("SELECT version FROM schema_versions WHERE component = 'test-m'")
    assert versions == [{"version": 2}]


def test_a_failed_transaction_leaves_nothing(database: ControlDatabase) -> None:
    migrate(database, "test-r", [("CREATE TABLE r (id {serial}, v TEXT)",)])
    with pytest.raises(RuntimeError), database.transaction() as db:
        db.insert("INSERT INTO r (v) VALUES (?)", ("gone",))
        raise RuntimeError("boom")
    with database.transaction() as db:
        assert db.execute("SELECT * FROM r") == []


# ----------------------------------------------------------------------- claims
def test_a_claim_is_granted_once(database: ControlDatabase) -> None:
    one, two = TaskClaims(database, "one"), TaskClaims(database, "two")
    claim = one.claim("prune", T0)
    assert claim is not None and claim.taken_over_from is None
    assert two.claim("prune", T0) is None  # a live lease
    assert two.claim("prune", T0 + timedelta(days=1)) is not None  # another due time
    assert one.renew(claim)
    one.finish(claim)
    assert two.claim("prune", T0) is None  # done: nobody runs it again
    assert one.claim("prune", T0) is None


def test_an_expired_lease_is_taken_over_and_the_old_holder_loses_it(
    database: ControlDatabase,
) -> None:
    one = TaskClaims(database, "one", lease=timedelta(seconds=30))
    two = TaskClaims(database, "two", lease=timedelta(seconds=30))
    claim = one.claim("prune", T0, now=T0)
    assert claim is not None
    assert two.expired(now=T0 + timedelta(seconds=10)) == []
    assert two.claim("prune", T0, now=T0 + timedelta(seconds=10)) is None
    (expired,) = two.expired(now=T0 + timedelta(seconds=31))
    assert (expired.task, expired.scheduled, expired.instance) == ("prune", T0, "one")
    assert one.expired(now=T0 + timedelta(seconds=31)) == []  # not its own
    taken = two.claim("prune", T0, now=T0 + timedelta(seconds=31))
    assert taken is not None and taken.taken_over_from == "one"
    assert not one.renew(claim)  # the dead instance, back, cannot keep it
    one.finish(claim)  # and cannot mark it done either
    assert two.renew(taken)
    two.finish(taken)
    assert two.expired(now=T0 + timedelta(days=1)) == []


def test_only_the_holder_releases_or_finishes_a_claim_and_done_stays_done(
    database: ControlDatabase,
) -> None:
    one, two = TaskClaims(database, "one"), TaskClaims(database, "two")
    claim = one.claim("prune", T0)
    assert claim is not None
    forged = Claim("prune", T0, "two")  # the same run, named by another instance
    two.release(forged)
    two.finish(forged)
    assert not two.renew(forged)
    assert two.claim("prune", T0) is None  # still one's live claim
    one.release(claim)
    again = two.claim("prune", T0)  # released: free at once, not a takeover
    assert again is not None and again.taken_over_from is None
    assert not one.renew(claim)
    two.finish(again)
    two.release(again)  # a finished run is not released: it stays done
    assert one.claim("prune", T0) is None


def test_many_instances_racing_for_one_claim_get_one_grant(database: ControlDatabase) -> None:
    grants: list[str] = []
    start = threading.Barrier(8)

    def race(name: str) -> None:
        claims = TaskClaims(database, name)
        start.wait()
        if claims.claim("prune", T0) is not None:
            grants.append(name)

    threads = [threading.Thread(target=race, args=(f"i{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) == 1


def test_positive_control_a_zero_lease_is_taken_at_once(database: ControlDatabase) -> None:
    """The race test can see two grants: with leases that expire at once, every instance
    takes the claim over from the previous one."""
    grants = [TaskClaims(database, f"i{n}", lease=timedelta(0)).claim("prune", T0) for n in (1, 2)]
    assert all(grant is not None for grant in grants)


# ---------------------------------------------------------------- URL handling
def test_a_password_in_the_url_is_refused() -> None:
    with pytest.raises(DatabaseUrlError, match="must not hold a password"):
        check_database_url("postgresql://keyark:s3cret@db.example/keyark")
    with pytest.raises(DatabaseUrlError, match="must not hold a password"):
        check_database_url("postgresql://keyark@db/keyark?password=s3cret")
    with pytest.raises(DatabaseUrlError, match="postgresql://"):
        check_database_url("mysql://db/keyark")
    with pytest.raises(ValueError, match="must not hold a password"):
        ServerSection(database="postgresql://keyark:s3cret@db/keyark")
    url = "postgresql://keyark@db.example/keyark?passfile=/etc/keyark/pgpass"
    assert ServerSection(database=url).database == url
    assert repr(PostgresDatabase(url)) == f"PostgresDatabase({url!r})"


def test_the_config_check_names_the_problem_without_the_password(cli: CLI, tmp_path: Path) -> None:
    config = tmp_path / "keyark.yaml"
    config.write_text('version: 1\nserver:\n  database: "postgresql://k:s3cretpw@db/k"\n')
    checked = cli.run("config", "validate", str(config))
    assert checked.returncode == 1
    assert "server.database" in checked.stderr and "must not hold a password" in checked.stderr
    assert "s3cretpw" not in checked.stdout + checked.stderr


def test_a_deleted_sqlite_file_is_migrated_again(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    store.set_cursor("nightly", T0)
    store.path.unlink()
    assert store.cursor("nightly") is None  # a new, migrated file: the history is gone
    store.set_cursor("nightly", T0)
    assert store.cursor("nightly") == T0
