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
- :class:`MonitorSection`: health-check thresholds and interval.
- ``notifications``: alert channels (:mod:`keyark.config.notifications`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from keyark.config.fields import (
    CalendarSpan,
    CompressionText,
    Duration,
    Rate,
    ScheduleText,
    VerifyText,
)
from keyark.config.metrics import MetricsSection
from keyark.config.models import (
    BackendSections,
    CredentialSpec,
    Pkcs11Spec,
    RepositoryConfig,
    RepositorySpec,
)
from keyark.config.notifications import ChannelList, EmailChannel
from keyark.config.secrets import SecretRef
from keyark.config.section import Section
from keyark.config.server import ServerSection
from keyark.config.service import (
    AuditSection,
    MonitorSection,
    MonitorThresholds,
    SchedulerSection,
    SyslogTarget,
)
from keyark.errors import UsageError

CURRENT_VERSION: Literal[1] = 1
#: The pydantic error type of the whole-document checks (:mod:`keyark.config.checks`).
DOCUMENT_CHECKS = "keyark_document_checks"


class RepositoryEntry(BackendSections):
    """A named repository: where it is, how to open it (secrets by reference only), limits."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: str = Field(min_length=1)
    """Where the repository is: a path, ``s3://bucket/prefix``, ``sftp://user@host/path``, ..."""
    password_file: str | None = None
    """A file holding the passphrase (its trailing newline is ignored)."""
    password_command: str | None = Field(default=None, repr=False)
    """A command printing the passphrase (never shown by ``config show``)."""
    password_env: str | None = None
    """An environment variable holding the passphrase."""
    key_file: str | None = None
    """Open with this key file instead of a passphrase."""
    pkcs11: Pkcs11Spec | None = None
    """Open with a PKCS#11 key (module, token and key labels, PIN sources)."""
    agent_credential: str | None = None
    """A write-only agent credential file (backups only)."""
    limit_upload: Rate | None = Field(default=None, gt=0)
    """Upload bandwidth limit per second (``20MiB``)."""
    limit_download: Rate | None = Field(default=None, gt=0)
    """Download bandwidth limit per second."""
    connections: int | None = Field(default=None, ge=1)
    """Parallel connections to the backend."""
    cache_dir: str | None = None
    """The local cache directory of this repository."""

    @model_validator(mode="after")
    def _one_backend(self) -> RepositoryEntry:
        from keyark.backends.registry import settings_prefix

        prefix = settings_prefix(self.url)
        for name in self.given_sections():
            if name != prefix:
                raise ValueError(f"{name} options given for a {prefix} repository ({self.url!r})")
        return self

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


class CommandSource(Section):
    """A data source: a command's standard output stored as a file of the snapshot."""

    path: str = Field(min_length=1)
    """The file's path in the snapshot (relative: below ``/``)."""
    run: str = Field(min_length=1)
    """The command line (run by ``/bin/sh -c``, without keyark's secrets in its environment)."""
    timeout: Duration | None = None
    """Stop the command after this long (the run fails)."""


class Hooks(Section):
    """Shell commands run around a job; each gets KEYARK_JOB, KEYARK_STATUS, KEYARK_SNAPSHOT_ID."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )

    before: list[str] = Field(default_factory=list)
    """Run before the backup; one failing skips the backup and fails the run."""
    after: list[str] = Field(default_factory=list)
    """Run after a successful (or partial) run."""
    on_error: list[str] = Field(default_factory=list)
    """Run after a failed run."""
    finally_: list[str] = Field(default_factory=list, alias="finally")
    """Run last, whatever happened (``finally`` in the file)."""
    timeout: Duration = timedelta(minutes=5)
    """Each hook is stopped after this long (and counts as failed)."""


class Retention(Section):
    """Which snapshots a job keeps (restic's keep rules) and a cap on their number."""

    keep_last: int | None = Field(default=None, ge=0)
    """Keep the newest N snapshots."""
    keep_hourly: int | None = Field(default=None, ge=0)
    """Keep the newest snapshot of each of the last N hours that have one."""
    keep_daily: int | None = Field(default=None, ge=0)
    """Keep the newest snapshot of each of the last N days that have one."""
    keep_weekly: int | None = Field(default=None, ge=0)
    """Keep the newest snapshot of each of the last N weeks that have one."""
    keep_monthly: int | None = Field(default=None, ge=0)
    """Keep the newest snapshot of each of the last N months that have one."""
    keep_yearly: int | None = Field(default=None, ge=0)
    """Keep the newest snapshot of each of the last N years that have one."""
    keep_within: CalendarSpan | None = None
    """Keep every snapshot this recent (calendar units y, m, d, h: ``30d``, ``1y6m``)."""
    keep_tags: list[str] = Field(default_factory=list)
    """Keep every snapshot with one of these tags."""
    max_snapshots: int | None = Field(default=None, ge=1)
    """After the keep rules: forget the oldest snapshots beyond this many."""


class JobSpec(Section):
    """A backup job: what, where, when, how long to keep, what to run around it."""

    repository: str
    """The repository (a name under ``repositories``) the job backs up into."""
    copy_to: list[str] = Field(default_factory=list)
    """After a successful backup, copy the new snapshot to these repositories."""
    sources: list[str] = Field(default_factory=list)
    """Files and directories to back up."""
    commands: list[CommandSource] = Field(default_factory=list)
    """Data sources: each command's standard output is stored as a file."""
    exclude: list[str] = Field(default_factory=list)
    """Exclude patterns (restic's rules)."""
    iexclude: list[str] = Field(default_factory=list)
    """Exclude patterns, case-insensitive."""
    exclude_file: list[str] = Field(default_factory=list)
    """Files of exclude patterns."""
    exclude_caches: bool = False
    """Exclude directories holding a CACHEDIR.TAG."""
    one_file_system: bool = False
    """Do not cross file-system boundaries."""
    inventory: bool = True
    """Record the key and certificate inventory in each snapshot (docs/inventory.md)."""
    tags: list[str] = Field(default_factory=list)
    """Tags of the job's snapshots."""
    host: str | None = None
    """The host name recorded in snapshots (default: this machine's)."""
    compression: CompressionText | None = None
    """``zstd`` (default), ``zstd:LEVEL``, ``gzip``, ``bzip2``, ``lzma``, ``auto`` or ``none``."""
    schedule: ScheduleText | None = None
    """When the daemon runs the job (none: only ``run`` runs it)."""
    random_delay: Duration = timedelta(0)
    """Start up to this much later than scheduled (spreads load)."""
    catch_up: Literal["skip", "run-once"] = "run-once"
    """Runs missed while the daemon was down: ``skip`` records them, ``run-once`` runs once."""
    catch_up_window: Duration = timedelta(hours=24)
    """``run-once`` catches up only when the newest missed time is this recent."""
    timeout: Duration | None = None
    """Cancel the run after this long (it fails; the repository stays consistent)."""
    retention: Retention | None = None
    """Forget snapshots of this job after each backup by these rules."""
    prune: Literal["after-forget", "never"] = "never"
    """Prune unused data after forgetting snapshots (``after-forget``), or ``never``."""
    verify: VerifyText = "none"
    """Read back what the run wrote: ``none``, ``full`` or ``subset N%``."""
    hooks: Hooks = Field(default_factory=Hooks)
    """Commands run before and after the job."""


class _Task(Section):
    repositories: list[str] = Field(default_factory=list)
    """The repositories (names under ``repositories``; default: all)."""
    catch_up: Literal["skip", "run-once"] = "run-once"
    """Runs missed while the daemon was down: ``skip`` records them, ``run-once`` runs once."""
    catch_up_window: Duration = timedelta(hours=24)
    """``run-once`` catches up only when the newest missed time is this recent."""
    random_delay: Duration = timedelta(0)
    """Start up to this much later than scheduled."""
    timeout: Duration | None = None
    """Cancel the task after this long."""


class CheckTask(_Task):
    """A scheduled ``check`` of the named repositories (default: all)."""

    schedule: ScheduleText
    """When the check runs."""
    read_data: bool = False
    """Read and verify every pack."""
    read_data_subset: str | None = None
    """Read this subset of the packs: ``10%`` or ``1/5``."""


class PruneTask(_Task):
    """A scheduled ``prune`` of the named repositories (default: all)."""

    schedule: ScheduleText
    """When the prune runs."""
    max_unused: str | None = None
    """Unused space to tolerate: ``5%``, ``100M`` or ``unlimited``."""


class RotateTask(_Task):
    """Data-key rotation: due after ``max_age_days``, warned about after ``warn_days``."""

    schedule: ScheduleText | None = None
    """When to look whether a rotation is due (none: only on demand)."""
    max_age_days: int = Field(default=90, ge=1)
    """Rotate the data key once it is this many days old."""
    warn_days: int = Field(default=80, ge=1)
    """Warn once the data key is this many days old."""
    reencrypt: bool = False
    """Re-encrypt existing data under the new key after a rotation."""

    @model_validator(mode="after")
    def _warn_before_due(self) -> RotateTask:
        if self.warn_days > self.max_age_days:
            raise ValueError(
                f"warn_days ({self.warn_days}) is after max_age_days ({self.max_age_days}); "
                "warn before the rotation is due"
            )
        return self


class DrillTask(_Task):
    """Scheduled restore drills of the newest snapshot of each job (or repository) named.

    With no job and no repository named, every job is drilled (every repository when the
    config has no jobs); each drill restores into a scratch directory it removes."""

    schedule: ScheduleText
    """When the drills run (at least quarterly for GDPR Art. 32(1)(d) evidence)."""
    jobs: list[str] = Field(default_factory=list)
    """The jobs whose newest snapshot is drilled (names under ``jobs``)."""
    sample: str | None = None
    """Restore a random share of the files: ``10%`` (none: every file)."""
    full: bool = False
    """Restore every file (the default when no ``sample`` is given)."""
    target: str | None = None
    """The directory the scratch directories are made in (none: the system's temporary one)."""

    @model_validator(mode="after")
    def _sample_or_full(self) -> DrillTask:
        if self.full and self.sample is not None:
            raise ValueError("give either sample or full, not both")
        if self.sample is not None:
            from keyark.drill.plan import parse_sample

            try:
                parse_sample(self.sample)
            except UsageError as error:
                raise ValueError(str(error)) from None
        return self


class MaintenanceSection(Section):
    """Scheduled maintenance tasks."""

    check: CheckTask | None = None
    """Check the repositories' structure (and a share of their data)."""
    prune: PruneTask | None = None
    """Remove unused data."""
    rotate: RotateTask | None = None
    """Rotate the data key when it is due."""
    drill: DrillTask | None = None
    """Restore drills: restore, verify and time the newest snapshots."""


class KeyarkConfig(Section):
    """The whole config file."""

    version: Literal[1] = CURRENT_VERSION
    """The format version of this file: 1."""
    repositories: dict[str, RepositoryEntry] = Field(default_factory=dict)
    """Named repositories."""
    jobs: dict[str, JobSpec] = Field(default_factory=dict)
    """Named backup jobs."""
    maintenance: MaintenanceSection = Field(default_factory=MaintenanceSection)
    """Scheduled check, prune and key rotation."""
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    """The daemon's settings."""
    monitor: MonitorSection = Field(default_factory=MonitorSection)
    """Health checks."""
    notifications: ChannelList = Field(default_factory=list)
    """Alert channels: each with a ``type`` (email, slack, webhook, syslog, apprise)."""
    metrics: MetricsSection = Field(default_factory=MetricsSection)
    """Prometheus metrics."""
    audit: AuditSection = Field(default_factory=AuditSection)
    """The audit log."""
    server: ServerSection = Field(default_factory=ServerSection)
    """The HTTP server's logins: sessions, rate limits, lockout, LDAP."""

    @model_validator(mode="after")
    def _document_checks(self) -> KeyarkConfig:
        """Names point at defined repositories; jobs back something up; no inline secret."""
        from keyark.config.checks import inline_secret_problems, reference_problems

        document: Any = self.model_dump(by_alias=True)
        problems = reference_problems(document) + inline_secret_problems(document)
        if problems:
            summary = "; ".join(
                f"{'.'.join(str(step) for step in location) or '(top)'}: {message}"
                for location, message in problems
            )
            raise PydanticCustomError(DOCUMENT_CHECKS, "{summary}", {"summary": summary})
        return self

    def repository(self, name: str) -> RepositoryConfig:
        """The named repository as a face opens it."""
        entry = self.repositories.get(name)
        if entry is None:
            raise UsageError(f"no repository named {name!r} in the config")
        return entry.to_config()


__all__ = [
    "CURRENT_VERSION",
    "AuditSection",
    "CheckTask",
    "CommandSource",
    "DrillTask",
    "Duration",
    "EmailChannel",
    "Hooks",
    "JobSpec",
    "KeyarkConfig",
    "MaintenanceSection",
    "MetricsSection",
    "MonitorSection",
    "MonitorThresholds",
    "PruneTask",
    "Rate",
    "RepositoryEntry",
    "Retention",
    "RotateTask",
    "ScheduleText",
    "SchedulerSection",
    "SyslogTarget",
]
