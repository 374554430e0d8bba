"""An agent's run report: what it says, and how the server keeps it.

A report names one job assigned to the reporting host, its status (``success``,
``partial`` or ``failed``: the run history's words), start and end times, bytes added,
the snapshot id and an inventory summary.
The server stores it in the fleet registry and in its run history (as a run of that
job, triggered ``agent:<host>``), so the ``backup_age`` check of the job alerts
centrally when the agent falls silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.errors import ForbiddenError, UsageError
from keyark.fleet.registry import FleetRegistry
from keyark.state.runs import RunRecord, RunStore

STATUSES = frozenset({"success", "partial", "failed"})
#: How far in the future a reported time may be (clock skew); later is refused, so an
#: agent cannot silence the ``backup_age`` alert by claiming a run to come.
SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class RunReport:
    """One run as an agent reports it."""

    job: str
    status: str
    started: datetime
    finished: datetime
    bytes_added: int | None = None
    snapshot_id: str | None = None
    inventory: dict[str, Any] | None = None
    version: str | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> RunReport:
        """Parse a report; UsageError naming the bad field otherwise."""
        job, status = document.get("job"), document.get("status")
        if not isinstance(job, str) or not job:
            raise UsageError("report field 'job' must name a job")
        if status not in STATUSES:
            raise UsageError("report field 'status' must be 'success', 'partial' or 'failed'")
        times = []
        for name in ("started", "finished"):
            try:
                moment = datetime.fromisoformat(str(document.get(name)))
            except ValueError:
                raise UsageError(f"report field {name!r} must be an ISO 8601 time") from None
            if moment.tzinfo is None:
                raise UsageError(f"report field {name!r} needs a time zone")
            if moment > datetime.now(UTC) + SKEW:
                raise UsageError(f"report field {name!r} is in the future")
            times.append(moment)
        if times[1] < times[0]:
            raise UsageError("report field 'finished' is before 'started'")
        size = document.get("bytes_added")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise UsageError("report field 'bytes_added' must be a count of bytes")
        inventory = document.get("inventory")
        return cls(
            job,
            str(status),
            times[0],
            times[1],
            size,
            _text(document, "snapshot_id"),
            inventory if isinstance(inventory, dict) else None,
            _text(document, "version"),
            _text(document, "error"),
        )

    @property
    def run_key(self) -> str:
        """What names the run this report tells of: its job and start time."""
        return f"{self.job} {self.started.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "bytes_added": self.bytes_added,
            "snapshot_id": self.snapshot_id,
            "inventory": self.inventory,
            "version": self.version,
            "error": self.error,
        }


def _text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1000:
        raise UsageError(f"report field {name!r} must be short text")
    return value


def record_report(
    config: KeyarkConfig, registry: FleetRegistry, runs: RunStore, host: str, report: RunReport
) -> None:
    """Keep ``host``'s ``report``: refused (ForbiddenError) unless the job is assigned to
    that host; else stored in the registry and the run history, once: a report of a run
    already reported (an agent resending one whose answer it lost) is taken and ignored.

    The run history is written first: a server that dies between the two writes makes a
    resent report count twice in the history, never lose its run.
    """
    job = config.jobs.get(report.job)
    if job is None or job.host != host:
        raise ForbiddenError(f"job {report.job!r} is not assigned to host {host!r}")
    if registry.has_report(host, report.run_key):
        return
    runs.record(
        RunRecord(
            report.job,
            "backup",
            f"agent:{host}",
            status=report.status,
            started=report.started,
            finished=report.finished,
            snapshot_id=report.snapshot_id,
            bytes_added=report.bytes_added,
            duration=(report.finished - report.started).total_seconds(),
            error=report.error,
        )
    )
    registry.report(
        host, report.to_dict(), succeeded=report.status == "success", run_key=report.run_key
    )


__all__ = ["SKEW", "STATUSES", "RunReport", "record_report"]
