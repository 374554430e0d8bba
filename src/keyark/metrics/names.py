"""The names of keyark's metrics: each one's type, labels and meaning, in one table.

Names are in base units (seconds, bytes) and carry no per-snapshot or per-key labels.
This module needs no ``prometheus_client`` (the docs test and ``metrics --list`` read it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """One metric as exposed: name (a counter's without ``_total``), type, labels, help."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str

    @property
    def exposed(self) -> str:
        """The sample name Prometheus stores (a counter's ends in ``_total``)."""
        return f"{self.name}_total" if self.type == "counter" else self.name


def _spec(name: str, kind: str, labels: tuple[str, ...], text: str) -> MetricSpec:
    return MetricSpec(name, kind, labels, text)


#: Every metric keyark exposes.
METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "keyark_job_last_success_timestamp_seconds",
            "gauge",
            ("job",),
            "Unix time the job's newest successful run ended.",
        ),
        _spec(
            "keyark_job_last_run_timestamp_seconds",
            "gauge",
            ("job",),
            "Unix time the job's newest run (success, partial or failed) ended.",
        ),
        _spec(
            "keyark_job_last_run_status",
            "gauge",
            ("job",),
            "How the job's newest run ended: 0 success, 1 partial, 2 failed.",
        ),
        _spec(
            "keyark_job_duration_seconds",
            "gauge",
            ("job",),
            "How long the job's newest run took.",
        ),
        _spec(
            "keyark_job_runs",
            "counter",
            ("job", "status"),
            "Runs of the job that ended, by status (success, partial, failed, skipped, missed).",
        ),
        _spec(
            "keyark_backup_added_bytes",
            "gauge",
            ("job",),
            "Bytes the job's newest backup added to the repository (after dedup).",
        ),
        _spec(
            "keyark_repository_size_bytes",
            "gauge",
            ("repository",),
            "Bytes of pack data stored in the repository.",
        ),
        _spec(
            "keyark_repository_snapshots",
            "gauge",
            ("repository",),
            "Snapshots in the repository.",
        ),
        _spec(
            "keyark_data_key_age_seconds",
            "gauge",
            ("repository",),
            "Age of the repository's current data key.",
        ),
        _spec(
            "keyark_check_last_success_timestamp_seconds",
            "gauge",
            ("repository",),
            "Unix time the newest scheduled check of the repository found no errors.",
        ),
        _spec(
            "keyark_drill_last_success_timestamp_seconds",
            "gauge",
            ("job",),
            "Unix time the newest successful restore drill of the job (or repository) ended.",
        ),
        _spec(
            "keyark_drill_duration_seconds",
            "gauge",
            ("job",),
            "How long the newest restore drill of the job (or repository) took to restore "
            "and verify (the measured restore time).",
        ),
        _spec(
            "keyark_health_status",
            "gauge",
            ("check",),
            "Worst last level of the health check: 0 OK, 1 INFO, 2 WARNING, 3 CRITICAL, 4 UNKNOWN.",
        ),
        _spec(
            "keyark_certificate_earliest_expiry_timestamp_seconds",
            "gauge",
            ("job",),
            "Unix time the first certificate in the job's newest snapshot expires.",
        ),
        _spec(
            "keyark_notifications_failed",
            "counter",
            ("channel",),
            "Alert deliveries to the channel that failed after their retries.",
        ),
    )
}
