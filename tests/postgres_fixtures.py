"""A real PostgreSQL 15 server (Debian's ``postgresql``) for tests, on 127.0.0.1 and a free port.

``postgres_server`` (session scope) runs ``initdb`` and ``pg_ctl start`` in a temporary data
directory owned by an unprivileged user (``initdb`` refuses root: as root the user
``keyark-pg`` is made with ``useradd -M`` if missing and the commands run through
``runuser``), and stops the server at the end of the session. ``postgres_url`` (function
scope) creates an empty database for one test and drops it afterwards; ``control_database``
gives a test a control database of each engine in turn (SQLite, then that PostgreSQL).

Without the binaries the tests are skipped, except under ``CI=true``, where that is a failure.
Registered for every test through ``pytest_plugins`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from keyark.control.database import ControlDatabase

BINARIES = Path("/usr/lib/postgresql/15/bin")
USER = "keyark-pg"


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster: its port and data directory; ``url(name)`` addresses a database."""

    port: int
    directory: Path

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` as the superuser ``postgres`` (trust auth, loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_user(command: list[str]) -> list[str]:
    """``command`` run as the unprivileged owner of the data directory when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", USER, "--", *command]


def _ensure_user() -> None:
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-r", "-s", "/usr/sbin/nologin", USER], check=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the session (see the module)."""
    if not (BINARIES / "initdb").exists():
        _unavailable(f"PostgreSQL 15 is not installed ({BINARIES})")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed")
    _ensure_user()
    directory = Path(tempfile.mkdtemp(prefix="keyark-pg-"))
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, USER, USER)
    directory.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "KEYARK_"))}
    env["LC_ALL"] = "C"
    subprocess.run(
        _as_user(
            [
                str(BINARIES / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
        env=env,
        cwd=directory,
    )
    port = _free_port()
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = directory / "log"
    start = [str(BINARIES / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w"]
    started = subprocess.run(
        _as_user([*start, "start"]),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=directory,
    )
    if started.returncode != 0:
        detail = log.read_text()[-2000:] if log.exists() else started.stderr
        raise RuntimeError(f"PostgreSQL did not start: {detail}")
    try:
        yield PostgresServer(port, directory)
    finally:
        subprocess.run(
            _as_user([str(BINARIES / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            env=env,
            cwd=directory,
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def control_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlDatabase]:
    """A control database of each engine in turn: SQLite ``state.db`` in ``tmp_path/state``,
    then a fresh PostgreSQL database (:func:`postgres_url`)."""
    from keyark.control.database import PostgresDatabase, SqliteDatabase

    if request.param == "sqlite":
        yield SqliteDatabase(tmp_path / "state" / "state.db")
    else:
        yield PostgresDatabase(request.getfixturevalue("postgres_url"))


__all__ = ["PostgresServer", "control_database", "postgres_server", "postgres_url"]


def query_rows(url: str, sql: str, *params: object) -> list[dict[str, Any]]:
    """The rows of one query on the database at ``url`` (none while its table is missing)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as db:
        try:
            return list(db.execute(sql, params).fetchall())
        except psycopg.errors.UndefinedTable:
            return []


def finished_takeovers(url: str, job: str, scheduled: object) -> list[dict[str, Any]]:
    """The ended runs of ``job`` due at ``scheduled`` that another instance took over."""
    return query_rows(
        url,
        "SELECT * FROM runs WHERE job = %s AND scheduled = %s"
        " AND trigger = 'takeover' AND status <> 'running'",
        job,
        scheduled,
    )
