"""The metrics read the run history and the alerts where the config keeps them: SQLite
files in the state directory (one server), or the PostgreSQL of ``server.database``
(several servers, a real PostgreSQL here). A config pointing at another database shows
none of them (the positive control: the numbers come from the config's database)."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.postgres_fixtures import PostgresServer

from keyark.config.document import KeyarkConfig
from keyark.control.database import ControlDatabase, PostgresDatabase
from keyark.errors import BackendError
from keyark.metrics.collector import KeyarkCollector, registry_of
from keyark.metrics.repository import RepositoryFacts, RepositoryFactsCache
from keyark.monitor.alert_store import AlertStore, Delivery
from keyark.monitor.model import Level
from keyark.ops.jobs import state_store
from keyark.state.runs import RunRecord

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def config(database: str | None, state_dir: Path) -> KeyarkConfig:
    """One job on one repository; the history in ``database`` (None: SQLite in state_dir)."""
    document: dict[str, Any] = {
        "repositories": {
            "main": {"url": "/nonexistent/main", "password_file": "/nonexistent/pw"},
        },
        "jobs": {"tls": {"repository": "main", "sources": ["/etc/ssl"]}},
        "scheduler": {"state_dir": str(state_dir)},
    }
    if database is not None:
        document["server"] = {"database": database}
    return KeyarkConfig.model_validate(document)


def unreachable(_config: KeyarkConfig, name: str) -> RepositoryFacts:
    raise BackendError(f"repository {name} is not read here")


def scrape(settings: KeyarkConfig, state_dir: Path) -> tuple[Samples, list[str]]:
    """One collection, as the daemon's endpoint makes it (the store from the config)."""
    warnings: list[str] = []
    collector = KeyarkCollector(
        lambda: settings,
        state_store(settings, state_dir),
        RepositoryFactsCache(300, read=unreachable),
        warn=lambda _subject, message: warnings.append(message),
    )
    text = generate_latest(registry_of(collector)).decode()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found, warnings


def url_of(database: ControlDatabase) -> str | None:
    return database.url if isinstance(database, PostgresDatabase) else None


@pytest.fixture
def other_url(
    control_database: ControlDatabase, request: pytest.FixtureRequest
) -> Iterator[str | None]:
    """Another, empty database of the same engine (None on SQLite: another directory)."""
    if not isinstance(control_database, PostgresDatabase):
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_metrics_read_the_configs_database(
    control_database: ControlDatabase, other_url: str | None, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    settings = config(url_of(control_database), state)
    runs = state_store(settings, state)
    started = T0 + timedelta(minutes=5)
    finished = started + timedelta(seconds=30)
    runs.record_all(
        [
            RunRecord("tls", "backup", "schedule", "success", started=started, finished=finished),
            RunRecord("tls", "backup", "schedule", "failed", started=finished, finished=finished),
        ]
    )
    alerts = AlertStore.of(settings, state)
    alerts.set_check_state("backup_age:tls", Level.CRITICAL, T0)
    alerts.add_delivery(Delivery("ops-mail", "backup_age:tls", Level.CRITICAL, "failed", T0))

    found, warnings = scrape(settings, state)
    assert [w for w in warnings if not w.startswith("repository main")] == []
    tls = (("job", "tls"),)
    assert found["keyark_job_last_success_timestamp_seconds", tls] == finished.timestamp()
    assert found["keyark_job_last_run_status", tls] == 2  # the failed run is the newest
    assert found["keyark_job_runs_total", (*tls, ("status", "success"))] == 1
    assert found["keyark_health_status", (("check", "backup_age"),)] == int(Level.CRITICAL)
    assert found["keyark_notifications_failed_total", (("channel", "ops-mail"),)] == 1

    # the positive control: another database (or state directory) holds none of it
    elsewhere = tmp_path / "elsewhere"
    found, _warnings = scrape(config(other_url, elsewhere), elsewhere)
    assert ("keyark_job_last_success_timestamp_seconds", tls) not in found
    assert ("keyark_job_last_run_status", tls) not in found
    assert found["keyark_job_runs_total", (*tls, ("status", "success"))] == 0
    assert not any(name == "keyark_health_status" for name, _labels in found)
    assert not any(name == "keyark_notifications_failed_total" for name, _labels in found)
    if other_url is None:
        assert not elsewhere.exists()  # a scrape of an empty SQLite history creates nothing


def test_a_shared_history_is_not_read_from_the_local_files(
    postgres_url: str, tmp_path: Path
) -> None:
    """With ``server.database`` the local ``state.db``/``alerts.db`` are not what counts."""
    state = tmp_path / "state"
    local = config(None, state)
    moment = T0 + timedelta(hours=1)
    state_store(local, state).record(
        RunRecord("tls", "backup", "manual", "success", started=moment, finished=moment)
    )
    AlertStore.of(local, state).set_check_state("disk:/", Level.WARNING, T0)
    found, _warnings = scrape(config(postgres_url, state), state)
    assert ("keyark_job_last_success_timestamp_seconds", (("job", "tls"),)) not in found
    assert not any(name == "keyark_health_status" for name, _labels in found)


def test_the_metrics_reading_refuses_writes(
    control_database: ControlDatabase, tmp_path: Path
) -> None:
    """The history transaction the metrics read through is read-only on both engines."""
    runs = state_store(config(url_of(control_database), tmp_path / "state"), tmp_path / "state")
    runs.record(RunRecord("tls", "backup", "manual", "success", started=T0, finished=T0))
    with pytest.raises((sqlite3.Error, psycopg.Error), match=r"(?i)read.only|readonly"):
        with runs.reading() as db:
            assert db is not None
            db.execute("DELETE FROM runs")
    assert [run.status for run in runs.runs("tls")] == ["success"]
