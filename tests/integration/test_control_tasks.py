"""API tasks on a control database two servers share (a real PostgreSQL): a task started
on server 1 is seen (status, progress, result) through server 2's ``GET
/api/v1/tasks/{id}``; server 2 forwards a cancel; a task whose server stopped answering
reads as failed; the events stream only from the server running the task. The task table
itself runs on SQLite too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.polling import wait_until
from tests.server_fixtures import (
    ROLE_TOKENS,
    TokenAuthenticator,
    running_server,
    server_config,
    settings_for,
)

from keyark import ops
from keyark.access.permissions import Principal, Role
from keyark.cancel import CancelToken
from keyark.control.database import ControlDatabase, PostgresDatabase, SqliteDatabase
from keyark.events import Event, Progress
from keyark.server.tasks import Runner, TaskRegistry
from keyark.state.task_records import LOST_AFTER, TaskRecords, TaskRow

ADMIN = {"Authorization": f"Bearer {ROLE_TOKENS[Role.ADMIN]}"}
VIEWER = {"Authorization": f"Bearer {ROLE_TOKENS[Role.VIEWER]}"}


@pytest.fixture
def servers(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Two servers on one config (one repository) and one PostgreSQL database, each with
    its own state directory; their URLs."""
    path = server_config(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["server"] = {"database": postgres_url}
    path.write_text(yaml.safe_dump(document))
    names = iter(("one", "two"))

    def registry(runner: Runner, **_wired: object) -> TaskRegistry:
        """What ServerState makes with the config's shared task table (the same wiring,
        with a name per server, whether or not ServerState passes it already)."""
        config = settings_for(path).config
        instance = f"{next(names)}:{ops.instance_name()}"
        return TaskRegistry(runner, records=ops.task_records(config), instance=instance)

    monkeypatch.setattr("keyark.server.state.TaskRegistry", registry)
    with ExitStack() as stack:
        yield [
            stack.enter_context(running_server(settings_for(path), TokenAuthenticator()))
            for _ in range(2)
        ]


def test_a_task_started_on_one_server_is_seen_on_the_other(servers: list[str]) -> None:
    one, two = servers
    started = httpx.post(f"{one}/api/v1/check", json={}, headers=ADMIN, timeout=60)
    assert started.status_code == 202, started.text
    task_id = started.json()["id"]

    def ended_on_two() -> dict[str, Any] | None:
        seen = httpx.get(f"{two}/api/v1/tasks/{task_id}", headers=ADMIN, timeout=30)
        assert seen.status_code == 200, seen.text
        body: dict[str, Any] = seen.json()
        return body if body["status"] != "running" else None

    body = wait_until(ended_on_two, 120, "the task to end, as server two sees it")
    here = httpx.get(f"{one}/api/v1/tasks/{task_id}", headers=ADMIN, timeout=30).json()
    assert body["status"] == here["status"] == "succeeded"
    assert body["result"] == here["result"] and body["events"] == here["events"] > 0
    assert body["instance"].startswith("one:")
    assert task_id in [t["id"] for t in httpx.get(f"{two}/api/v1/tasks", headers=ADMIN).json()]
    # another principal's task stays unknown to a viewer, on either server
    for url in servers:
        assert httpx.get(f"{url}/api/v1/tasks/{task_id}", headers=VIEWER).status_code == 404
    # the events stream from the server running the task; elsewhere only the end
    stream = httpx.get(f"{two}/api/v1/tasks/{task_id}/events", headers=ADMIN, timeout=30)
    assert stream.text.count("event: ") == 1 and "event: end" in stream.text


def test_positive_control_without_a_shared_database_the_other_server_does_not_know_it(
    tmp_path: Path,
) -> None:
    path = server_config(tmp_path)
    with ExitStack() as stack:
        one, two = (
            stack.enter_context(running_server(settings_for(path), TokenAuthenticator()))
            for _ in range(2)
        )
        started = httpx.post(f"{one}/api/v1/check", json={}, headers=ADMIN, timeout=60)
        task_id = started.json()["id"]
        assert httpx.get(f"{one}/api/v1/tasks/{task_id}", headers=ADMIN).status_code == 200
        assert httpx.get(f"{two}/api/v1/tasks/{task_id}", headers=ADMIN).status_code == 404


def _waits_for_cancel(
    principal: Principal,
    operation: str,
    options: object,
    repository: str | None,
    sink: Callable[[Event], None],
    token: CancelToken,
) -> dict[str, Any]:
    """An operation that reports progress and runs until cancelled."""
    sink(Progress(operation=operation, phase="read", files_done=1))
    while not token.cancelled:
        time.sleep(0.02)
    token.check()
    return {}


def test_a_cancel_on_the_other_server_reaches_the_task(postgres_url: str) -> None:
    admin = Principal("token:admin", Role.ADMIN)
    one, two = (
        TaskRegistry(_waits_for_cancel, records=TaskRecords(PostgresDatabase(postgres_url)),
                     instance=name)
        for name in ("one", "two")
    )  # fmt: skip
    task = one.start(admin, "check", object())
    seen = wait_until(
        lambda: t if (t := two.get(task.id, admin)).progress is not None else None,
        10,
        "its progress",
    )
    assert (seen.remote, seen.status, seen.instance) == (True, "running", "one")
    assert list(seen.subscribe(wait=0.1)) == []  # no events here: they stream on one
    two.cancel(task.id, admin)
    wait_until(lambda: task.done, 10, "the task to stop")
    assert task.status == "cancelled"
    assert wait_until(lambda: two.get(task.id, admin).status == "cancelled", 10, "the end on two")
    one.cancel_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> ControlDatabase:
    if request.param == "sqlite":
        return SqliteDatabase(tmp_path / "state" / "state.db")
    return PostgresDatabase(request.getfixturevalue("postgres_url"))


def test_the_task_table_on_both_engines(database: ControlDatabase) -> None:
    records = TaskRecords(database)
    now = datetime.now(UTC)
    row = TaskRow("t1", "check", "token:ci", "operator", "main", "one", "running", 1.0,
                  progress={"event": "progress", "files_done": 3}, events=2)  # fmt: skip
    assert records.save(row, now) is False
    assert records.get("t1", now) == row
    records.request_cancel("t1")
    assert records.save(row, now) is True  # the running server learns it on its next write
    # a server that stopped writing: its running task reads as failed
    lost = records.get("t1", now + LOST_AFTER + timedelta(seconds=1))
    assert lost is not None and lost.status == "failed"
    assert lost.error is not None and lost.error["code"] == "server-lost"
    for n in range(5):
        ended = TaskRow(f"d{n}", "check", "token:ci", "operator", None, "one", "succeeded",
                        2.0 + n, ended=3.0 + n, result={"n": n})  # fmt: skip
        records.save(ended, now)
    records.forget_old(keep=3)  # the ended ones older than the third newest go; running stay
    assert [r.id for r in records.recent(now=now)] == ["t1", "d2", "d3", "d4"]
