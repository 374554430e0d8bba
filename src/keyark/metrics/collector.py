"""The ``prometheus_client`` collector: every keyark metric, read fresh at each collection.

Names are in base units (seconds, bytes) and carry no per-snapshot or per-key labels
(:data:`keyark.metrics.names.METRICS` is the one list, with each metric's type,
labels and meaning; ``docs/monitoring.md`` documents it and a test keeps the two
equal). The label ``job`` is the keyark job; Prometheus renames it ``exported_job``
unless the scrape config sets ``honor_labels: true`` (its own ``job`` label names the
scrape job).

One source failing (a repository unreachable, a database locked) leaves out its series
and is reported through ``warn``; the others are still exposed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from keyark.config.document import KeyarkConfig
from keyark.errors import KeyarkError
from keyark.metrics import history, sources
from keyark.metrics.names import METRICS
from keyark.metrics.repository import RepositoryFactsCache
from keyark.state.runs import RunStore

#: Reports a source that could not be read: (subject, message).
Warn = Callable[[str, str], None]


class _Families:
    """One metric family per spec, filled as the sources are read."""

    def __init__(self) -> None:
        self.families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for spec in METRICS.values():
            family_type = CounterMetricFamily if spec.type == "counter" else GaugeMetricFamily
            self.families[spec.name] = family_type(spec.name, spec.help, labels=spec.labels)

    def add(self, name: str, labels: list[str], value: float | datetime | None) -> None:
        if value is None:
            return
        number = value.timestamp() if isinstance(value, datetime) else float(value)
        self.families[name].add_metric(labels, number)


class KeyarkCollector:
    """Reads the run history, the alert store and the repositories at each ``collect``.

    ``config`` is called at each collection (the daemon's reloaded config is seen);
    ``repositories`` caches the costly repository facts for its interval, and
    ``certificates`` each job's certificate expiry for as long as its newest snapshot
    stays the same.
    """

    def __init__(
        self,
        config: Callable[[], KeyarkConfig],
        store: RunStore,
        repositories: RepositoryFactsCache,
        *,
        warn: Warn,
        certificates: sources.CertificateExpiry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._store = store
        self._repositories = repositories
        self._certificates = certificates or sources.CertificateExpiry(repositories.max_age)
        self._warn = warn
        self._clock = clock

    def describe(self) -> list[Metric]:
        """The metric families, without samples (for registration)."""
        return list(_Families().families.values())

    def collect(self) -> Iterator[Metric]:
        """Every metric with its current samples."""
        config = self._config()
        found = _Families()
        self._guarded("history", lambda: self._jobs(config, found))
        self._guarded("drills", lambda: self._drills(config, found))
        self._guarded("repositories", lambda: self._repository_facts(config, found))
        self._guarded("health", lambda: self._alerts(config, found))
        yield from found.families.values()

    def _guarded(self, subject: str, read: Callable[[], None]) -> None:
        try:
            read()
        except (KeyarkError, OSError, ValueError) as error:
            self._warn(subject, f"{subject}: {error}")
        except Exception as error:  # e.g. sqlite3.Error: the other sources still count
            self._warn(subject, f"{subject}: {type(error).__name__}: {error}")

    def _jobs(self, config: KeyarkConfig, found: _Families) -> None:
        tasks = [*config.jobs, *_maintenance_tasks(config)]
        for job in history.job_facts(self._store, tasks):
            for status, count in job.runs.items():
                found.add("keyark_job_runs", [job.name, status], count)
            found.add("keyark_job_last_success_timestamp_seconds", [job.name], job.last_success)
            found.add("keyark_job_last_run_timestamp_seconds", [job.name], job.last_run)
            status_value = history.STATUS_VALUES.get(job.last_status or "")
            found.add("keyark_job_last_run_status", [job.name], status_value)
            found.add("keyark_job_duration_seconds", [job.name], job.last_duration)
            if job.name in config.jobs:
                found.add("keyark_backup_added_bytes", [job.name], job.added_bytes)
                snapshot = job.last_snapshot
                if snapshot is not None:
                    self._guarded(
                        f"certificates of job {job.name}",
                        partial(self._certificate, config, job.name, snapshot, found),
                    )

    def _drills(self, config: KeyarkConfig, found: _Families) -> None:
        subjects = [*config.jobs, *config.repositories]
        for drill in history.drill_facts(self._store, subjects):
            name = [drill.name]
            found.add("keyark_drill_last_success_timestamp_seconds", name, drill.last_success)
            found.add("keyark_drill_duration_seconds", name, drill.last_duration)

    def _certificate(self, config: KeyarkConfig, job: str, snapshot: str, found: _Families) -> None:
        expiry = self._certificates.earliest(config, job, snapshot)
        found.add("keyark_certificate_earliest_expiry_timestamp_seconds", [job], expiry)

    def _repository_facts(self, config: KeyarkConfig, found: _Families) -> None:
        facts, errors = self._repositories.facts(config, config.repositories)
        for name, message in errors.items():
            self._warn(f"repository {name}", f"repository {name}: {message}")
        now = self._clock()
        for repository in facts:
            labels = [repository.name]
            found.add("keyark_repository_size_bytes", labels, repository.size_bytes)
            found.add("keyark_repository_snapshots", labels, repository.snapshots)
            age = max(0.0, now - repository.data_key_created.timestamp())
            found.add("keyark_data_key_age_seconds", labels, age)
        checked = history.last_checks(self._store, config.repositories)
        for name, moment in checked.items():
            found.add("keyark_check_last_success_timestamp_seconds", [name], moment)

    def _alerts(self, config: KeyarkConfig, found: _Families) -> None:
        state_dir = self._store.directory
        for check, level in sorted(sources.health_levels(config, state_dir).items()):
            found.add("keyark_health_status", [check], level)
        for channel, count in sorted(sources.failed_notifications(config, state_dir).items()):
            found.add("keyark_notifications_failed", [channel], count)


def _maintenance_tasks(config: KeyarkConfig) -> list[str]:
    section = config.maintenance
    return [
        f"maintenance.{kind}"
        for kind in ("check", "prune", "rotate", "drill")
        if getattr(section, kind) is not None
    ]


def registry_of(collector: KeyarkCollector) -> CollectorRegistry:
    """A registry of its own holding only ``collector`` (no process or platform metrics
    of the client's global registry)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
