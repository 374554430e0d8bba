"""The access tables and the fleet registry on the control database, on SQLite and on a real
PostgreSQL: two store objects over one database stand for two servers (each with its own
state directory and process caches); what one writes, the other sees at once."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from keyark.access import totp
from keyark.access.enrolment import EnrolmentStore
from keyark.access.lockout import Lockout, LockoutPolicy
from keyark.access.permissions import Principal, Role
from keyark.access.sessions import SessionStore
from keyark.access.tokens import TokenStore
from keyark.access.users import UserStore
from keyark.control.database import ControlDatabase, SqliteDatabase
from keyark.errors import AuthenticationError, RateLimitedError, UsageError
from keyark.fleet.registry import FleetRegistry


@pytest.fixture
def database(control_database: ControlDatabase) -> ControlDatabase:
    """SQLite, then PostgreSQL (``tests/postgres_fixtures.py``)."""
    return control_database


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """The two "servers'" state directories (distinct: only the database is shared)."""
    return tmp_path / "one", tmp_path / "two"


def test_a_token_of_one_server_works_on_the_other_until_revoked(
    database: ControlDatabase, dirs: tuple[Path, Path]
) -> None:
    one, two = (TokenStore(d, database=database) for d in dirs)
    issued = one.create("ci", Role.OPERATOR)
    assert two.authenticate(issued.token).name == "token:ci"  # the other server's cache is cold
    forged = issued.token[:-4] + "AAAA"
    with pytest.raises(AuthenticationError):  # positive control: a wrong secret is refused
        two.authenticate(forged)
    with pytest.raises(UsageError, match="exists"):
        two.create("ci", Role.VIEWER)  # names are unique across servers
    one.revoke("ci")
    with pytest.raises(AuthenticationError):
        two.authenticate(issued.token)  # cached as verified there, still refused at once
    assert [t.status() for t in two.tokens(include_revoked=True)] == ["revoked"]


def test_a_session_ended_on_one_server_is_refused_on_the_other(
    database: ControlDatabase, dirs: tuple[Path, Path]
) -> None:
    one, two = (SessionStore(d, database=database) for d in dirs)
    session = one.create(Principal("user:ann", Role.ADMIN))
    found = two.lookup(session.session_id)
    assert found is not None and found.csrf_token == session.csrf_token
    other = two.create(Principal("user:ann", Role.ADMIN))
    one.end(session.session_id)
    assert two.lookup(session.session_id) is None
    assert one.lookup(other.session_id) is not None  # positive control: only that one ended
    assert one.end_all("user:ann") == 1
    assert two.lookup(other.session_id) is None


def test_users_and_a_totp_code_spent_once_across_servers(
    database: ControlDatabase, dirs: tuple[Path, Path]
) -> None:
    one, two = (UserStore(d, database=database) for d in dirs)
    uri = one.add("bob", Role.AUDITOR, "bob password", with_totp=True).totp_uri
    assert uri is not None and [u.name for u in two.users()] == ["bob"]
    secret = two.totp_secret("bob")
    assert secret is not None
    code = totp.code_at(secret)
    assert one.verify("bob", "bob password", code).role is Role.AUDITOR
    with pytest.raises(AuthenticationError):
        two.verify("bob", "bob password", code)  # replayed on the other server
    with pytest.raises(AuthenticationError):
        two.verify("bob", "wrong password", code)
    two.set_password("bob", "new password")
    with pytest.raises(AuthenticationError):
        one.verify("bob", "bob password", code)


def test_failed_logins_on_both_servers_add_up_to_a_lockout(
    database: ControlDatabase, dirs: tuple[Path, Path]
) -> None:
    policy = LockoutPolicy(threshold=4, duration=timedelta(minutes=5))
    one, two = (Lockout(d, policy, database=database) for d in dirs)
    workers = [threading.Thread(target=store.failed, args=("eve",)) for store in (one, two, one)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    two.check("eve")  # three failures: not locked yet (positive control)
    assert one.failed("eve") is True  # the fourth, on the other server, locks
    with pytest.raises(RateLimitedError):
        two.check("eve")
    one.unlock("eve")
    two.check("eve")


def test_an_enrolment_token_is_redeemed_once_across_servers(
    database: ControlDatabase, dirs: tuple[Path, Path]
) -> None:
    one, two = (EnrolmentStore(d, database=database) for d in dirs)
    issued = one.create("web-01")
    results: list[str] = []

    def redeem(store: EnrolmentStore) -> None:
        try:
            results.append(store.redeem(issued.token))
        except AuthenticationError:
            results.append("refused")

    racers = [threading.Thread(target=redeem, args=(s,)) for s in (one, two) * 3]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(results) == ["refused"] * 5 + ["web-01"]
    report = two.issue_report_token("web-01")
    assert one.report_host(report) == "web-01"
    one.revoke_reports("web-01")
    with pytest.raises(AuthenticationError):
        two.report_host(report)


def test_the_fleet_registry_is_one_for_both_servers(
    database: ControlDatabase, dirs: tuple[Path, Path]
) -> None:
    one, two = (FleetRegistry(d, database=database) for d in dirs)
    one.enrolled("web-01", "web-01")
    two.report("web-01", {"status": "success", "version": "9.9"}, succeeded=True)
    one.report("web-01", {"status": "failed"}, succeeded=False)
    [agent] = two.agents()
    assert agent.version == "9.9" and agent.last_success is not None
    assert agent.last_report is not None and agent.last_report > agent.last_success
    assert [r["status"] for r in one.reports("web-01")] == ["success", "failed"]
    two.revoked("web-01")
    assert one.agent_of("web-01") == "web-01" and one.agents()[0].revoked is not None
    one.enrolled("web-01", "web-01-2")  # a re-enrolment starts afresh
    assert two.agents()[0].to_dict() | {"enrolled": None} == {
        "host": "web-01", "agent": "web-01-2", "enrolled": None, "version": None,
        "last_report": None, "last_success": None, "revoked": None,
    }  # fmt: skip


# ------------------------------------------------------------- former per-host files
def _legacy_access(state_dir: Path) -> tuple[str, str]:
    """An ``access.db`` as the previous release wrote it; a token and a session id in it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    legacy = sqlite3.connect(state_dir / "access.db")
    legacy.executescript(
        """CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
               hash TEXT NOT NULL, created TEXT NOT NULL, expires TEXT, last_used TEXT,
               revoked TEXT);
           CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
               totp_secret TEXT, totp_last_step INTEGER, created TEXT NOT NULL);
           CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, principal TEXT NOT NULL,
               role TEXT NOT NULL, csrf TEXT NOT NULL, created TEXT NOT NULL,
               expires TEXT NOT NULL);
           CREATE TABLE lockouts (name TEXT PRIMARY KEY, failures INTEGER NOT NULL,
               locked_until TEXT);"""
    )
    legacy.close()
    # Rows written the old way: through the stores' own SQL against that file.
    scratch = SqliteDatabase(state_dir / "access.db")
    token = TokenStore(state_dir / "scratch", database=scratch).create("old", Role.ADMIN).token
    UserStore(state_dir / "scratch", database=scratch).add("carol", Role.VIEWER, "carol password")
    session = SessionStore(state_dir / "scratch", database=scratch).create(
        Principal("user:carol", Role.VIEWER)
    )
    return token, session.session_id


def test_a_former_access_db_is_imported_once(database: ControlDatabase, tmp_path: Path) -> None:
    state_dir = tmp_path / "old-server"
    token, session_id = _legacy_access(state_dir)
    # Positive control: another state directory (no access.db) sees none of it.
    with pytest.raises(AuthenticationError):
        TokenStore(tmp_path / "elsewhere", database=database).authenticate(token)
    assert (state_dir / "access.db").exists()
    assert TokenStore(state_dir, database=database).authenticate(token).name == "token:old"
    assert not (state_dir / "access.db").exists()
    assert (state_dir / "access.db.imported").exists()
    assert UserStore(state_dir, database=database).verify("carol", "carol password")
    assert SessionStore(state_dir, database=database).lookup(session_id) is not None
    assert [t.name for t in TokenStore(tmp_path / "x", database=database).tokens()] == ["old"]


def test_a_former_fleet_db_is_imported_once(database: ControlDatabase, tmp_path: Path) -> None:
    state_dir = tmp_path / "old-server"
    state_dir.mkdir()
    old = FleetRegistry(tmp_path / "scratch", database=SqliteDatabase(state_dir / "fleet.db"))
    old.enrolled("db-01", "db-01")
    old.report("db-01", {"n": 1}, succeeded=True)
    old.report("db-01", {"n": 2}, succeeded=False)
    registry = FleetRegistry(state_dir, database=database)
    assert [a.host for a in registry.agents()] == ["db-01"]
    assert FleetRegistry(state_dir, database=database).reports("db-01") == [{"n": 1}, {"n": 2}]
    assert (state_dir / "fleet.db.imported").exists() and not (state_dir / "fleet.db").exists()


def test_without_a_database_the_tables_are_in_state_db(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    TokenStore(state_dir).create("ci", Role.VIEWER)
    FleetRegistry(state_dir).enrolled("web-01", "web-01")
    assert sorted(p.name for p in state_dir.iterdir() if p.suffix == ".db") == ["state.db"]
    assert stat.S_IMODE((state_dir / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    shared = SqliteDatabase(state_dir / "state.db")
    assert [t.name for t in TokenStore(tmp_path / "x", database=shared).tokens()] == ["ci"]


def test_a_server_never_reads_before_another_ones_import_commits(
    database: ControlDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old file is renamed inside the importing transaction: a second server that
    finds it renamed must wait for that transaction, not read the rows not there yet.
    The import is held open (after its rows are copied, before the commit) while the
    second server reads; with the wait left out it read no report."""
    from keyark.control import legacy

    state_dir = tmp_path / "old-server"
    state_dir.mkdir()
    old = FleetRegistry(tmp_path / "scratch", database=SqliteDatabase(state_dir / "fleet.db"))
    old.enrolled("db-01", "db-01")
    for number in range(3):
        old.report("db-01", {"n": number}, succeeded=True)
    copied, release = threading.Event(), threading.Event()
    real_copy = legacy._copy

    def slow_copy(db: object, table: legacy.LegacyTable, rows: list[tuple[object, ...]]) -> int:
        count = real_copy(db, table, rows)  # type: ignore[arg-type]
        copied.set()
        assert release.wait(30)
        return count

    monkeypatch.setattr(legacy, "_copy", slow_copy)
    importer = threading.Thread(
        target=lambda: FleetRegistry(state_dir, database=database).reports("db-01")
    )
    importer.start()
    assert copied.wait(30)  # renamed and copied, not committed
    assert not (state_dir / "fleet.db").exists()
    seen: list[int] = []
    reader = threading.Thread(
        target=lambda: seen.append(
            len(FleetRegistry(state_dir, database=database).reports("db-01"))
        )
    )
    reader.start()
    reader.join(0.5)
    release.set()
    reader.join(30)
    importer.join(30)
    assert seen == [3]


def test_servers_starting_together_import_a_former_file_once(
    database: ControlDatabase, tmp_path: Path
) -> None:
    state_dir = tmp_path / "old-server"
    state_dir.mkdir()
    old = FleetRegistry(tmp_path / "scratch", database=SqliteDatabase(state_dir / "fleet.db"))
    old.enrolled("db-01", "db-01")
    for number in range(3):
        old.report("db-01", {"n": number}, succeeded=True)
    seen: list[int] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        registry = FleetRegistry(state_dir, database=database)
        barrier.wait()
        seen.append(len(registry.reports("db-01")))

    starters = [threading.Thread(target=start) for _ in range(6)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    assert seen == [3] * 6  # reports have no key of their own: a second import would double them
