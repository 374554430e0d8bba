"""The metrics collector on a real run history (SQLite), alert store and a facts reader:
names, labels, values, the per-interval cache of repository facts, and a failing source
left out while the others are still exposed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from keyark.config.document import KeyarkConfig
from keyark.errors import BackendError
from keyark.metrics.collector import KeyarkCollector, registry_of
from keyark.metrics.names import METRICS
from keyark.metrics.repository import RepositoryFacts, RepositoryFactsCache
from keyark.metrics.sources import CertificateExpiry
from keyark.state.runs import RunRecord, RunStore, StepRecord

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def config() -> KeyarkConfig:
    return KeyarkConfig.model_validate(
        {
            "repositories": {
                "main": {"url": "/nonexistent/main", "password_file": "/nonexistent/pw"},
                "offsite": {"url": "/nonexistent/offsite", "password_file": "/nonexistent/pw"},
            },
            "jobs": {
                "tls": {"repository": "main", "sources": ["/etc/ssl"]},
                "ssh": {"repository": "main", "sources": ["/etc/ssh"]},
            },
            "maintenance": {"check": {"schedule": "0 3 * * *"}},
        }
    )


def run(job: str, status: str, minutes: int, **fields: object) -> RunRecord:
    started = T0 + timedelta(minutes=minutes)
    return RunRecord(
        job=job,
        kind="check" if job.startswith("maintenance.") else "backup",
        trigger="schedule",
        status=status,
        started=started,
        finished=started + timedelta(seconds=30),
        duration=30.0 + minutes,
        **fields,  # type: ignore[arg-type]
    )


def history(store: RunStore) -> None:
    store.record_all(
        [
            run("tls", "success", 0, snapshot_id="a" * 64, bytes_added=1000),
            run("tls", "failed", 10, error="boom"),
            run("tls", "success", 20, snapshot_id="b" * 64, bytes_added=2048),
            run("tls", "partial", 30, snapshot_id="c" * 64, bytes_added=10),
            run("tls", "skipped", 40),
            run("tls", "missed", 50),
            run("old-job", "success", 0),
            run(
                "maintenance.check",
                "success",
                5,
                steps=[StepRecord("check main", "ok"), StepRecord("check offsite", "ok")],
            ),
            run(
                "maintenance.check",
                "failed",
                60,
                steps=[StepRecord("check main", "ok"), StepRecord("check offsite", "failed")],
            ),
        ]
    )
    store.start(RunRecord("tls", "backup", "manual", started=T0 + timedelta(minutes=70)))


class Reader:
    """Repository facts as a reader returns them, counting the readings."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.failing = failing or set()

    def __call__(self, _config: KeyarkConfig, name: str) -> RepositoryFacts:
        self.calls.append(name)
        if name in self.failing:
            raise BackendError(f"repository {name} is unreachable")
        return RepositoryFacts(name, 4096, 3, T0 - timedelta(days=10))


class Certificates:
    """The earliest expiry per snapshot, as an inventory would give it, counting readings."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, _config: KeyarkConfig, job: str, snapshot_id: str) -> datetime | None:
        self.calls.append((job, snapshot_id))
        return T0 + timedelta(days=5) if snapshot_id.startswith("b") else None


def samples(collector: KeyarkCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry_of(collector)).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.timestamp is None  # never a client-side timestamp
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def collector(
    store: RunStore,
    reader: Reader,
    warnings: list[str],
    clock: list[float] | None = None,
    certificates: Certificates | None = None,
) -> KeyarkCollector:
    ticks = clock if clock is not None else [0.0]
    cache = RepositoryFactsCache(300, read=reader, clock=lambda: ticks[0])
    expiry = CertificateExpiry(300, read=certificates or Certificates(), clock=lambda: ticks[0])
    now = (T0 + timedelta(days=10)).timestamp()
    return KeyarkCollector(
        config,
        store,
        cache,
        warn=lambda _s, m: warnings.append(m),
        certificates=expiry,
        clock=lambda: now,
    )


def test_job_metrics_from_the_history(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    history(store)
    warnings: list[str] = []
    found = samples(collector(store, Reader(), warnings))
    assert warnings == []

    def value(name: str, **labels: str) -> float:
        return found[name, tuple(sorted(labels.items()))]

    ended = (T0 + timedelta(minutes=30, seconds=30)).timestamp()
    success = (T0 + timedelta(minutes=20, seconds=30)).timestamp()
    assert value("keyark_job_last_run_timestamp_seconds", job="tls") == ended  # the partial one
    assert value("keyark_job_last_run_status", job="tls") == 1  # partial
    assert value("keyark_job_last_success_timestamp_seconds", job="tls") == success
    assert value("keyark_job_duration_seconds", job="tls") == 60.0
    assert value("keyark_backup_added_bytes", job="tls") == 10
    for status, count in {
        "success": 2,
        "failed": 1,
        "partial": 1,
        "skipped": 1,
        "missed": 1,
    }.items():
        assert value("keyark_job_runs_total", job="tls", status=status) == count
    # the running run is not counted; a job without runs has zero counts and no times
    assert ("keyark_job_runs_total", (("job", "tls"), ("status", "running"))) not in found
    assert value("keyark_job_runs_total", job="ssh", status="success") == 0
    assert not any(
        name == "keyark_job_last_run_status" and ("job", "ssh") in labels for name, labels in found
    )
    # a job no longer in the config is not exposed
    assert not any(("job", "old-job") in labels for _name, labels in found)
    # the failed maintenance run still counts for the repository whose step was ok
    checked = (T0 + timedelta(minutes=60, seconds=30)).timestamp()
    assert value("keyark_check_last_success_timestamp_seconds", repository="main") == checked
    earlier = (T0 + timedelta(minutes=5, seconds=30)).timestamp()
    assert value("keyark_check_last_success_timestamp_seconds", repository="offsite") == earlier
    assert value("keyark_job_last_run_status", job="maintenance.check") == 2
    # repositories
    assert value("keyark_repository_size_bytes", repository="main") == 4096
    assert value("keyark_repository_snapshots", repository="offsite") == 3
    assert value("keyark_data_key_age_seconds", repository="main") == 20 * 86400
    # the certificates of the newest successful snapshot (b...), not of the partial one
    expiry = (T0 + timedelta(days=5)).timestamp()
    assert value("keyark_certificate_earliest_expiry_timestamp_seconds", job="tls") == expiry


def test_certificate_expiry_is_read_once_per_snapshot(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    history(store)
    certificates = Certificates()
    metrics = collector(store, Reader(), [], certificates=certificates)
    samples(metrics)
    samples(metrics)
    assert certificates.calls == [("tls", "b" * 64)]
    store.record(run("tls", "success", 80, snapshot_id="d" * 64))
    found = samples(metrics)
    assert certificates.calls == [("tls", "b" * 64), ("tls", "d" * 64)]
    # a snapshot without certificates: no sample (not a made-up time)
    assert not any(
        name == "keyark_certificate_earliest_expiry_timestamp_seconds" for name, _l in found
    )


def test_every_exposed_name_is_in_the_table(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    history(store)
    text = generate_latest(registry_of(collector(store, Reader(), []))).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert set(families) == set(METRICS)
    for name, family in families.items():
        spec = METRICS[name]
        assert family.type == spec.type
        for sample in family.samples:
            assert tuple(sorted(sample.labels)) == tuple(sorted(spec.labels)), sample
            assert sample.name == spec.exposed


def test_an_empty_state_directory_exposes_no_samples_and_creates_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    found = samples(collector(store, Reader(), []))
    assert not (tmp_path / "state").exists()  # a scrape never creates the history
    assert {name for name, _labels in found} == {
        "keyark_job_runs_total",
        "keyark_repository_size_bytes",
        "keyark_repository_snapshots",
        "keyark_data_key_age_seconds",
    }


def test_repository_facts_are_read_once_per_interval(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    reader = Reader()
    clock = [0.0]
    metrics = collector(store, reader, [], clock)
    samples(metrics)
    samples(metrics)
    clock[0] = 299.0
    samples(metrics)
    assert sorted(reader.calls) == ["main", "offsite"]  # once each within the interval
    clock[0] = 300.0
    samples(metrics)
    assert sorted(reader.calls) == ["main", "main", "offsite", "offsite"]


def test_an_unreadable_repository_is_left_out_and_reported(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    history(store)
    warnings: list[str] = []
    reader = Reader(failing={"offsite"})
    metrics = collector(store, reader, warnings)
    found = samples(metrics)
    sizes = {labels for name, labels in found if name == "keyark_repository_size_bytes"}
    assert sizes == {(("repository", "main"),)}
    assert warnings == ["repository offsite: repository offsite is unreachable"]
    assert ("keyark_job_last_run_status", (("job", "tls"),)) in found  # the rest is there
    samples(metrics)
    assert reader.calls.count("offsite") == 1  # the failure is cached for the interval too


def test_a_broken_history_leaves_out_job_metrics_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(b"this is not a database" * 100)
    warnings: list[str] = []
    found = samples(collector(RunStore(state), Reader(), warnings))
    assert warnings and warnings[0].startswith("history: ")
    assert not any(name.startswith("keyark_job_") for name, _labels in found)
    assert ("keyark_repository_size_bytes", (("repository", "main"),)) in found


def test_health_and_failed_notifications_from_the_alert_store(tmp_path: Path) -> None:
    alert_store = pytest.importorskip("keyark.monitor.alert_store")
    from keyark.monitor.model import Level

    state = tmp_path / "state"
    alerts = alert_store.AlertStore(state)
    alerts.set_check_state("backup_age:tls", Level.WARNING, T0)
    alerts.set_check_state("backup_age:ssh", Level.CRITICAL, T0)
    alerts.set_check_state("disk:/var", Level.OK, T0)
    for status, channel in (("failed", "ops-mail"), ("failed", "ops-mail"), ("sent", "slack")):
        alerts.add_delivery(
            alert_store.Delivery(channel, "backup_age:tls", Level.WARNING, status, T0)
        )
    found = samples(collector(RunStore(state), Reader(), []))
    assert found["keyark_health_status", (("check", "backup_age"),)] == 3  # the worst subject
    assert found["keyark_health_status", (("check", "disk"),)] == 0
    assert found["keyark_notifications_failed_total", (("channel", "ops-mail"),)] == 2
    assert ("keyark_notifications_failed_total", (("channel", "slack"),)) not in found
