"""The config file (``keyark.yaml``): repositories, jobs, maintenance, scheduler, monitor.

One pydantic model, :class:`KeyarkConfig`, validated from YAML, JSON or TOML by
:mod:`keyark.config.loading` (which adds file and line to every error). Secrets
appear only by reference (``password_file``, ``password_command``, ``password_env``,
a key file, PKCS#11, an agent credential); an inline secret is refused.

- :class:`RepositoryEntry`: a named repository (URL, credential references, one
  backend section, limits) -> :meth:`RepositoryEntry.to_config`, the
  :class:`~keyark.config.models.RepositoryConfig` every face opens.
- :class:`JobSpec`: a backup job: sources and command data sources, filters, tags,
  schedule and catch-up, retention, prune, verify, copy targets, hooks.
- :class:`MaintenanceSection`: scheduled check, prune and key rotation.
- :class:`SchedulerSection`: the daemon's time zone, parallelism, state and log places.
- :class:`MonitorSection`, :class:`NotificationsSection`: their place for the monitoring
  issue (thresholds and channels).
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from keyark.config.models import (
    BackendSections,
    CredentialSpec,
    Pkcs11Spec,
    RepositoryConfig,
    RepositorySpec,
)
from keyark.config.schedule import Schedule, parse_schedule
from keyark.config.secrets import SecretRef
from keyark.errors import UsageError

CURRENT_VERSION: Literal[1] = 1


def _duration(value: Any) -> Any:
    """``90s``, ``10m``, ``2h``, ``1d``, ``1h30m`` or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        from keyark.units import parse_seconds

        try:
            return timedelta(seconds=parse_seconds(value, "duration"))
        except UsageError as error:
            raise ValueError(str(error)) from None
    raise ValueError("a duration is a text such as 90s, 10m, 2h, 1d")


def _show_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


#: A clock duration in the config (``30s``, ``10m``, ``2h``, ``1d``).
Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(_show_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$|^0$"}),
]


def _rate(value: Any) -> Any:
    """``20MiB`` (per second) or a number of KiB/s -> KiB/s as a float."""
    if isinstance(value, str):
        from keyark.units import parse_size

        try:
            return parse_size(value, "bandwidth limit") / 1024
        except UsageError as error:
            raise ValueError(str(error)) from None
    return value


#: A bandwidth limit: ``20MiB`` (per second) or a number of KiB/s.
Rate = Annotated[
    float,
    BeforeValidator(_rate),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number", "exclusiveMinimum": 0}]}),
]


def _schedule(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, str):
        raise ValueError("a schedule is a text: 5-field cron, @daily, or 'every 6h'")
    return parse_schedule(value)


#: A schedule text (``0 2 * * *``, ``@daily``, ``every 6h``), parsed.
ScheduleText = Annotated[
    Schedule,
    BeforeValidator(_schedule),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"type": "string", "description": "5-field cron, @hourly/@daily/..., or 'every 6h'"}
    ),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepositoryEntry(BackendSections):
    """A named repository of the config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1)
    password_file: str | None = None
    #: Not shown by ``repr()``: a command line may carry a secret.
    password_command: str | None = Field(default=None, repr=False)
    password_env: str | None = None
    key_file: str | None = None
    pkcs11: Pkcs11Spec | None = None
    #: A write-only agent credential file (backups only).
    agent_credential: str | None = None
    limit_upload: Rate | None = Field(default=None, gt=0)
    limit_download: Rate | None = Field(default=None, gt=0)
    connections: int | None = Field(default=None, ge=1)
    cache_dir: str | None = None

    def to_config(self) -> RepositoryConfig:
        """The repository as every face opens it."""
        spec = RepositorySpec.model_validate(
            {
                "url": self.url,
                "limit_upload": self.limit_upload,
                "limit_download": self.limit_download,
                "connections": self.connections,
                **self.given_sections(),
            }
        )
        passphrase = [
            ref
            for ref in (
                SecretRef(file=self.password_file) if self.password_file else None,
                SecretRef(command=self.password_command) if self.password_command else None,
                SecretRef(env=self.password_env) if self.password_env else None,
            )
            if ref is not None
        ]
        credentials = CredentialSpec(
            passphrase=passphrase,
            key_file=self.key_file,
            pkcs11=self.pkcs11,
            agent_credential=self.agent_credential,
        )
        return RepositoryConfig(repository=spec, credentials=credentials, cache_dir=self.cache_dir)


class CommandSource(_Section):
    """A data source: a command's standard output stored as a file of the snapshot."""

    #: The file's path in the snapshot (relative: below ``/``).
    path: str = Field(min_length=1)
    #: The command line (run by ``/bin/sh -c``, without keyark's secrets in its environment).
    run: str = Field(min_length=1)
    timeout: Duration | None = None


class Hooks(_Section):
    """Shell commands run around a job; each gets KEYARK_JOB, KEYARK_STATUS, KEYARK_SNAPSHOT_ID."""

    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    on_error: list[str] = Field(default_factory=list)
    #: Run last, whatever happened (``finally`` in the file).
    finally_: list[str] = Field(default_factory=list, alias="finally")
    timeout: Duration = timedelta(minutes=5)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Retention(_Section):
    """Which snapshots a job keeps (restic's keep rules) and a cap on their number."""

    keep_last: int | None = Field(default=None, ge=0)
    keep_hourly: int | None = Field(default=None, ge=0)
    keep_daily: int | None = Field(default=None, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    keep_monthly: int | None = Field(default=None, ge=0)
    keep_yearly: int | None = Field(default=None, ge=0)
    #: ``30d``, ``1y6m``: keep every snapshot this recent (calendar units y, m, d, h).
    keep_within: str | None = None
    keep_tags: list[str] = Field(default_factory=list)
    #: After the keep rules: forget the oldest snapshots beyond this many.
    max_snapshots: int | None = Field(default=None, ge=1)


#: ``none``, ``full`` or ``subset N%``: what of this run's new data is read back.
VerifyMode = str


class JobSpec(_Section):
    """A backup job: what, where, when, how long to keep, what to run around it."""

    repository: str
    copy_to: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    commands: list[CommandSource] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    iexclude: list[str] = Field(default_factory=list)
    exclude_file: list[str] = Field(default_factory=list)
    exclude_caches: bool = False
    one_file_system: bool = False
    tags: list[str] = Field(default_factory=list)
    host: str | None = None
    compression: str | None = None
    schedule: ScheduleText | None = None
    random_delay: Duration = timedelta(0)
    catch_up: Literal["skip", "run-once"] = "run-once"
    catch_up_window: Duration = timedelta(hours=24)
    timeout: Duration | None = None
    retention: Retention | None = None
    prune: Literal["after-forget", "never"] = "never"
    verify: VerifyMode = "none"
    hooks: Hooks = Field(default_factory=Hooks)

    @field_validator("verify")
    @classmethod
    def _verify(cls, value: str) -> str:
        from keyark.config.verify import parse_verify

        parse_verify(value)
        return value


class CheckTask(_Section):
    """A scheduled ``check`` of the named repositories (default: all)."""

    schedule: ScheduleText
    repositories: list[str] = Field(default_factory=list)
    read_data: bool = False
    #: ``10%`` or ``1/5``: read this subset of the packs.
    read_data_subset: str | None = None
    catch_up: Literal["skip", "run-once"] = "run-once"
    catch_up_window: Duration = timedelta(hours=24)
    random_delay: Duration = timedelta(0)
    timeout: Duration | None = None


class PruneTask(_Section):
    """A scheduled ``prune`` of the named repositories (default: all)."""

    schedule: ScheduleText
    repositories: list[str] = Field(default_factory=list)
    max_unused: str | None = None
    catch_up: Literal["skip", "run-once"] = "run-once"
    catch_up_window: Duration = timedelta(hours=24)
    random_delay: Duration = timedelta(0)
    timeout: Duration | None = None


class RotateTask(_Section):
    """Data-key rotation: due after ``max_age_days``, warned about after ``warn_days``."""

    schedule: ScheduleText | None = None
    repositories: list[str] = Field(default_factory=list)
    max_age_days: int = Field(default=90, ge=1)
    warn_days: int = Field(default=80, ge=1)
    #: Re-encrypt existing data under the new key after a rotation.
    reencrypt: bool = False
    catch_up: Literal["skip", "run-once"] = "run-once"
    catch_up_window: Duration = timedelta(hours=24)
    random_delay: Duration = timedelta(0)
    timeout: Duration | None = None


class MaintenanceSection(_Section):
    """Scheduled maintenance tasks."""

    check: CheckTask | None = None
    prune: PruneTask | None = None
    rotate: RotateTask | None = None


class SyslogTarget(_Section):
    """Where the daemon's log also goes: ``udp://host:514``, ``tcp://host:601`` or a socket."""

    address: str = "/dev/log"
    facility: str = "daemon"


class SchedulerSection(_Section):
    """The daemon: time zone of schedules, parallelism, state and log places."""

    #: IANA zone name (``Europe/Berlin``); None: this machine's local zone.
    timezone: str | None = None
    max_parallel_jobs: int = Field(default=1, ge=1)
    #: None: ``$XDG_STATE_HOME/keyark`` (``/var/lib/keyark`` for root).
    state_dir: str | None = None
    #: None: ``<state_dir>/daemon.log``.
    log_file: str | None = None
    pid_file: str | None = None
    syslog: SyslogTarget | None = None

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


class MonitorThresholds(_Section):
    """Health-check thresholds (defaults from the system keyark replaces)."""

    backup_age_warning_hours: float | None = Field(default=None, gt=0)
    backup_age_critical_hours: float | None = Field(default=None, gt=0)
    disk_warning_percent: float = Field(default=80, gt=0, le=100)
    disk_critical_percent: float = Field(default=90, gt=0, le=100)
    key_age_warning_days: int = Field(default=80, ge=1)
    key_age_critical_days: int = Field(default=90, ge=1)


class MonitorSection(_Section):
    """Health checks (the monitoring issue builds on this place)."""

    enabled: bool = True
    interval: Duration = timedelta(minutes=5)
    thresholds: MonitorThresholds = Field(default_factory=MonitorThresholds)


class EmailChannel(_Section):
    """Alerts by e-mail."""

    enabled: bool = True
    recipients: list[str] = Field(default_factory=list)
    sender: str | None = None
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password_file: str | None = None
    starttls: bool = False


class NotificationsSection(_Section):
    """Alert channels (the monitoring issue adds Slack, webhooks and syslog)."""

    email: EmailChannel | None = None


class KeyarkConfig(_Section):
    """The whole config file."""

    version: Literal[1] = CURRENT_VERSION
    repositories: dict[str, RepositoryEntry] = Field(default_factory=dict)
    jobs: dict[str, JobSpec] = Field(default_factory=dict)
    maintenance: MaintenanceSection = Field(default_factory=MaintenanceSection)
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    monitor: MonitorSection = Field(default_factory=MonitorSection)
    notifications: NotificationsSection = Field(default_factory=NotificationsSection)

    @model_validator(mode="after")
    def _names(self) -> KeyarkConfig:
        """Every repository a job or task names exists."""
        known = set(self.repositories)
        problems: list[str] = []
        for name, job in self.jobs.items():
            for target in [job.repository, *job.copy_to]:
                if target not in known:
                    problems.append(f"job {name!r} names repository {target!r}: not defined")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def repository(self, name: str) -> RepositoryConfig:
        """The named repository as a face opens it."""
        entry = self.repositories.get(name)
        if entry is None:
            raise UsageError(f"no repository named {name!r} in the config")
        return entry.to_config()
