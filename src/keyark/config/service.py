"""The config file's service sections: the scheduler daemon (time zone, parallelism, state
and log places, syslog), the monitor (interval and health-check thresholds) and the audit log.
Part of :class:`keyark.config.document.KeyarkConfig`."""

from __future__ import annotations

from datetime import timedelta, tzinfo

from pydantic import Field, field_validator

from keyark.config.fields import Duration
from keyark.config.section import Section
from keyark.errors import UsageError


class SyslogTarget(Section):
    """Where the daemon's log also goes: ``udp://host:514``, ``tcp://host:601`` or a socket."""

    address: str = "/dev/log"
    """``/dev/log`` (a socket), ``udp://host:514`` or ``tcp://host:601``."""
    facility: str = "daemon"
    """The syslog facility."""


class SchedulerSection(Section):
    """The daemon: time zone of schedules, parallelism, state and log places."""

    timezone: str | None = None
    """IANA zone name schedules are read in (``Europe/Berlin``); none: this machine's zone."""
    max_parallel_jobs: int = Field(default=1, ge=1)
    """How many jobs and tasks run at once."""
    state_dir: str | None = None
    """Run history and cursors; none: ``$XDG_STATE_HOME/keyark`` (``/var/lib/keyark`` as root)."""
    log_file: str | None = None
    """The daemon's log file; none: ``<state_dir>/daemon.log``."""
    pid_file: str | None = None
    """The daemon's pid file; none: ``<state_dir>/daemon.pid``."""
    syslog: SyslogTarget | None = None
    """Also log to syslog."""

    def zone(self) -> tzinfo:
        """The time zone schedules are read in."""
        if self.timezone is None:
            from datetime import datetime

            local = datetime.now().astimezone().tzinfo
            assert local is not None
            return local
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                message = f"{value!r} is not a time zone (e.g. Europe/Berlin, UTC)"
                raise ValueError(message) from None
        return value


class MonitorThresholds(Section):
    """Health-check thresholds (defaults from the system keyark replaces)."""

    backup_age_warning_hours: float | None = Field(default=None, gt=0)
    """Warn when a job's last success is older than this; none: one scheduled run missed."""
    backup_age_critical_hours: float | None = Field(default=None, gt=0)
    """Alert when a job's last success is older than this; none: two scheduled runs missed."""
    disk_warning_percent: float = Field(default=80, gt=0, le=100)
    """Warn when a filesystem keyark writes (local repository, cache, state) is this full."""
    disk_critical_percent: float = Field(default=90, gt=0, le=100)
    """Alert when a filesystem keyark writes (local repository, cache, state) is this full."""
    key_age_warning_days: int = Field(default=80, ge=1)
    """Warn when a data key is this old."""
    key_age_critical_days: int = Field(default=90, ge=1)
    """Alert when a data key is this old."""
    slot_age_warning_days: int | None = Field(default=None, ge=1)
    """Warn when a key slot (passphrase, key file, HSM) is this old; none: never."""
    root_key_age_warning_days: int | None = Field(default=365, ge=1)
    """Warn when the keyring key (replaced by a root rotation) is this old; none: never."""
    cert_expiry_warning_days: int = Field(default=30, ge=0)
    """Warn when a certificate in the latest snapshot expires within this many days."""
    cert_expiry_critical_days: int = Field(default=7, ge=0)
    """Alert when a certificate in the latest snapshot expires within this many days."""
    repository_quota: str | None = None
    """Each repository's quota (``500G``): warn at ``disk_warning_percent`` of it, alert
    beyond it; none: no quota."""
    backend_latency_warning_seconds: float = Field(default=5.0, gt=0)
    """Warn when reading a repository's config takes longer than this."""
    integrity_warning_days: int = Field(default=35, ge=1)
    """Warn when the last successful scheduled check is older than this."""
    load_warning_per_cpu: float = Field(default=2.0, gt=0)
    """Warn when the 5-minute load average per CPU exceeds this."""
    load_critical_per_cpu: float = Field(default=4.0, gt=0)
    """Alert when the 5-minute load average per CPU exceeds this."""
    memory_warning_percent: float = Field(default=90, gt=0, le=100)
    """Warn when this much memory is in use."""
    memory_critical_percent: float = Field(default=95, gt=0, le=100)
    """Alert when this much memory is in use."""
    swap_warning_percent: float = Field(default=50, gt=0, le=100)
    """Warn when this much swap is in use."""
    swap_critical_percent: float = Field(default=80, gt=0, le=100)
    """Alert when this much swap is in use."""

    @field_validator("repository_quota")
    @classmethod
    def _quota(cls, value: str | None) -> str | None:
        if value is not None:
            from keyark.units import parse_size

            try:
                parse_size(value, "repository_quota")
            except UsageError as error:
                raise ValueError(str(error)) from None
        return value


class MonitorSection(Section):
    """Health checks (the monitoring issue builds on this place)."""

    enabled: bool = True
    """Run health checks."""
    interval: Duration = timedelta(minutes=5)
    """Time between health checks."""
    thresholds: MonitorThresholds = Field(default_factory=MonitorThresholds)
    """When a check warns or alerts."""


class AuditSection(Section):
    """The audit log (see docs/audit.md)."""

    required: bool = False
    """Refuse to run an operation whose audit record cannot be written (fail-closed)."""
    retention: Duration = timedelta(days=365)
    """Keep audit records at least this long (keyark never deletes them)."""
    local_dir: str | None = None
    """The local copy of the log; none: ``<state_dir>/audit``."""
    checkpoint_every: int = Field(default=10, ge=1, le=10_000)
    """Records between two signed checkpoints of one writer."""


__all__ = [
    "AuditSection",
    "MonitorSection",
    "MonitorThresholds",
    "SchedulerSection",
    "SyslogTarget",
]
