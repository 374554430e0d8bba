"""Convert the JSON config files of the system keyark replaces into a keyark config.

``backup_config.json`` (``backup_settings``, ``encryption``, ``storage``) and
``monitor_config.json`` (``monitoring``, ``thresholds``, ``notifications``) become one
document for ``keyark.yaml``. Every value of the input gets one :class:`ImportNote`:
where it went, or why it was dropped (``encryption_enabled: false``: keyark always
encrypts). Places the seed files do not describe (what was backed up, the S3 bucket,
the passphrase file) are filled with placeholders, each said to be one. The result
validates as a :class:`~keyark.config.document.KeyarkConfig`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from keyark.errors import UsageError

#: The job the import creates.
JOB = "keys"
#: Placeholders the user must replace (each is said to be one in the notes).
PASSWORD_FILE = "/etc/keyark/password"  # noqa: S105 (a path, not a secret)
S3_URL = "s3://CHANGE-ME-bucket/keyark"
SOURCES = ["/etc/keyark/keys"]
SMTP_HOST = "smtp.CHANGE-ME.example"
SENDER = "keyark@CHANGE-ME.example"
RECIPIENT = "ops@CHANGE-ME.example"
#: Thresholds the monitor section knows (the rest are dropped with a note).
THRESHOLDS = (
    "backup_age_warning_hours",
    "backup_age_critical_hours",
    "disk_warning_percent",
    "disk_critical_percent",
    "key_age_warning_days",
    "key_age_critical_days",
)


@dataclass(frozen=True)
class ImportNote:
    """One input value and what became of it."""

    source: str
    value: Any
    outcome: str

    def __str__(self) -> str:
        return f"{self.source}: {json.dumps(self.value)} -> {self.outcome}"


@dataclass
class SeedImport:
    """The converted document and a note for every input value."""

    document: dict[str, Any]
    notes: list[ImportNote] = field(default_factory=list)

    def yaml_text(self) -> str:
        """The document as commented YAML (the notes as its header)."""
        import yaml

        header = [
            "# keyark.yaml converted from the seed system's JSON config files.",
            "# What became of each value:",
            *(f"#   {note}" for note in self.notes),
            "",
        ]
        body = yaml.safe_dump(self.document, sort_keys=False, default_flow_style=False)
        return "\n".join(header) + body


def _leaves(data: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, Mapping) and data:
        for key, value in data.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, data


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return value if isinstance(value, Mapping) else {}


class _Converter:
    """Fills the document and notes one input value at a time."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.result = SeedImport(document={"version": 1, "repositories": {}, "jobs": {}})
        self.handled: set[str] = set()
        self.job: dict[str, Any] = {}

    def note(self, source: str, value: Any, outcome: str) -> None:
        self.handled.add(source)
        self.result.notes.append(ImportNote(source, value, outcome))

    def backup_settings(self, data: Mapping[str, Any]) -> None:
        settings = _section(data, "backup_settings")
        retention: dict[str, Any] = {}
        days = settings.get("retention_days")
        if isinstance(days, int) and days > 0:
            retention["keep_within"] = f"{days}d"
            self.note(
                "backup_settings.retention_days",
                days,
                f"jobs.{JOB}.retention.keep_within: {days}d (every snapshot of the last "
                f"{days} days is kept)",
            )
        count = settings.get("max_backups")
        if isinstance(count, int) and count > 0:
            retention["max_snapshots"] = count
            self.note(
                "backup_settings.max_backups",
                count,
                f"jobs.{JOB}.retention.max_snapshots: {count} (the oldest snapshots beyond "
                f"{count} are forgotten after the keep rules)",
            )
        if retention:
            self.job["retention"] = retention
            self.job["prune"] = "after-forget"
        level = settings.get("compression_level")
        if isinstance(level, int) and not isinstance(level, bool):
            zstd = min(max(level, 1), 19)
            self.job["compression"] = f"zstd:{zstd}"
            same = "" if zstd == level else f" (zstd levels are 1-19; {level} is out of range)"
            self.note(
                "backup_settings.compression_level",
                level,
                f"jobs.{JOB}.compression: zstd:{zstd}{same}",
            )
        if "encryption_enabled" in settings:
            enabled = settings["encryption_enabled"]
            self.note(
                "backup_settings.encryption_enabled",
                enabled,
                "nothing to set: keyark always encrypts"
                if enabled
                else "not honoured: keyark always encrypts (it has no unencrypted mode)",
            )
        if "verification_enabled" in settings:
            verify = bool(settings["verification_enabled"])
            meaning = "full (every blob a run wrote is read back)" if verify else "none"
            self.job["verify"] = "full" if verify else "none"
            self.note(
                "backup_settings.verification_enabled",
                settings["verification_enabled"],
                f"jobs.{JOB}.verify: {meaning}",
            )

    def encryption(self, data: Mapping[str, Any]) -> None:
        from keyark.crypto.kdf import ARGON2_MEMORY_KIB, ARGON2_MIN_TIME_COST, PBKDF2_ITERATIONS

        section = _section(data, "encryption")
        if "algorithm" in section:
            self.note(
                "encryption.algorithm",
                section["algorithm"],
                "nothing to set: keyark encrypts with AES-256-GCM in its own authenticated "
                "format (not configurable)",
            )
        if "key_derivation" in section:
            self.note(
                "encryption.key_derivation",
                section["key_derivation"],
                f"raised to keyark's minimum: new key slots use Argon2id "
                f"({ARGON2_MEMORY_KIB // 1024} MiB, time cost >= {ARGON2_MIN_TIME_COST}, "
                "calibrated to about 0.4 s), or PBKDF2-HMAC-SHA256 at "
                f"{PBKDF2_ITERATIONS:,} iterations when the repository is created with the "
                "pbkdf2 KDF; the config file holds no KDF setting",
            )
        if "iterations" in section:
            iterations = section["iterations"]
            self.note(
                "encryption.iterations",
                iterations,
                f"raised: {iterations:,} PBKDF2 iterations is below keyark's minimum "
                f"({PBKDF2_ITERATIONS:,} for PBKDF2; Argon2id by default)"
                if isinstance(iterations, int) and iterations < PBKDF2_ITERATIONS
                else "nothing to set: keyark chooses the KDF cost when a key slot is made",
            )

    def storage(self, data: Mapping[str, Any]) -> None:
        section = _section(data, "storage")
        backends = section.get("backends")
        names = [str(name) for name in backends] if isinstance(backends, list) else ["local"]
        repositories: dict[str, Any] = self.result.document["repositories"]
        if "local" in names:
            given = section.get("local_path")
            local = Path(str(given)) if given else Path("backups")
            url = str(local if local.is_absolute() else (self.base_dir / local).resolve())
            repositories["local"] = {"url": url, "password_file": PASSWORD_FILE}
            if given is not None:
                self.note(
                    "storage.local_path",
                    given,
                    f"repositories.local.url: {url} (relative to the seed file's directory)",
                )
        if "s3" in names:
            repositories["s3"] = {"url": S3_URL, "password_file": PASSWORD_FILE}
        for name in names:
            if name == "local":
                outcome = "repositories.local (a local repository)"
            elif name == "s3":
                outcome = (
                    f"repositories.s3: a PLACEHOLDER ({S3_URL}): the seed files do not say "
                    "which bucket; set url, and s3.endpoint / credentials by reference, "
                    "before use"
                )
            else:
                outcome = f"dropped: backend {name!r} is not one keyark knows by this name"
            self.note(f"storage.backends[{name}]", name, outcome)
        self.handled.add("storage.backends")
        if "cloud_encryption" in section:
            self.note(
                "storage.cloud_encryption",
                section["cloud_encryption"],
                "nothing to set: keyark encrypts before anything is uploaded (the storage's "
                "own encryption is a setting of the bucket)",
            )
        if repositories:
            self.note(
                "(passphrase)",
                PASSWORD_FILE,
                f"repositories.*.password_file: {PASSWORD_FILE} is a PLACEHOLDER: create it "
                "(mode 0600) holding the passphrase, or use password_command / password_env",
            )

    def job_section(self) -> None:
        repositories = list(self.result.document["repositories"])
        if not repositories:
            return
        primary = "local" if "local" in repositories else repositories[0]
        job: dict[str, Any] = {"repository": primary}
        copies = [name for name in repositories if name != primary]
        if copies:
            job["copy_to"] = copies
        job["sources"] = list(SOURCES)
        job["schedule"] = "@daily"
        job.update(self.job)
        self.result.document["jobs"][JOB] = job
        self.note(
            "(job)",
            JOB,
            f"jobs.{JOB}: backs up into {primary}"
            + (f", then copies to {', '.join(copies)}" if copies else "")
            + f"; sources {SOURCES} and schedule @daily are PLACEHOLDERS (the seed files "
            "name neither): set them",
        )

    def monitor(self, data: Mapping[str, Any]) -> None:
        monitoring = _section(data, "monitoring")
        monitor: dict[str, Any] = {}
        if "enabled" in monitoring:
            monitor["enabled"] = bool(monitoring["enabled"])
            self.note("monitoring.enabled", monitoring["enabled"], "monitor.enabled")
        if "daemon_mode" in monitoring:
            self.note(
                "monitoring.daemon_mode",
                monitoring["daemon_mode"],
                "nothing to set: keyark's scheduler daemon runs the jobs and health checks",
            )
        interval = monitoring.get("health_check_interval")
        if isinstance(interval, int | float) and interval > 0:
            from keyark.config.fields import show_duration

            monitor["interval"] = show_duration(timedelta(seconds=interval))
            self.note(
                "monitoring.health_check_interval",
                interval,
                f"monitor.interval: {monitor['interval']}",
            )
        thresholds: dict[str, Any] = {}
        for name, value in _section(data, "thresholds").items():
            if name in THRESHOLDS:
                thresholds[name] = value
                self.note(f"thresholds.{name}", value, f"monitor.thresholds.{name}")
        if thresholds:
            monitor["thresholds"] = thresholds
        if monitor:
            self.result.document["monitor"] = monitor

    def notifications(self, data: Mapping[str, Any]) -> None:
        email = _section(_section(data, "notifications"), "email")
        if not email:
            return
        channel: dict[str, Any] = {
            "type": "email",
            "min_level": "warning",
            "smtp": {"host": SMTP_HOST},
            "from": SENDER,
        }
        if "enabled" in email:
            channel["enabled"] = bool(email["enabled"])
            self.note("notifications.email.enabled", email["enabled"], "notifications[0].enabled")
        recipients = email.get("recipients")
        if isinstance(recipients, list) and recipients:
            channel["recipients"] = [str(item) for item in recipients]
            self.note(
                "notifications.email.recipients",
                recipients,
                "notifications[0].recipients (an email channel, min_level warning)",
            )
        else:
            channel["recipients"] = [RECIPIENT]
            self.note(
                "notifications.email.recipients",
                recipients,
                f"notifications[0].recipients: {RECIPIENT} is a PLACEHOLDER (the seed names "
                "no recipient): set it",
            )
        self.note(
            "(smtp)",
            SMTP_HOST,
            f"notifications[0].smtp.host: {SMTP_HOST} and from: {SENDER} are PLACEHOLDERS "
            "(the seed files name no mail server): set the server, port, starttls or tls, "
            "and username with password_file when it needs a login",
        )
        self.result.document["notifications"] = [channel]

    def leftovers(self, data: Mapping[str, Any]) -> None:
        for source, value in _leaves(data, ""):
            if source not in self.handled and not any(
                source.startswith(done + ".") for done in self.handled
            ):
                self.note(source, value, "dropped: keyark has no setting for it")


def import_seed(
    backup: Mapping[str, Any], monitor: Mapping[str, Any] | None = None, *, base_dir: Path
) -> SeedImport:
    """The keyark document for the seed's ``backup`` (and ``monitor``) settings.

    ``base_dir`` is where a relative ``local_path`` is resolved from (the seed file's
    directory). The document is validated before it is returned.
    """
    converter = _Converter(base_dir)
    converter.backup_settings(backup)
    converter.encryption(backup)
    converter.storage(backup)
    converter.job_section()
    converter.leftovers(backup)
    if monitor is not None:
        converter.monitor(monitor)
        converter.notifications(monitor)
        converter.leftovers(monitor)
    from keyark.config.document import KeyarkConfig

    KeyarkConfig.model_validate(converter.result.document)
    return converter.result


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, Mapping):
        raise UsageError(f"{path}: expected a JSON object at the top")
    return data


def import_seed_files(backup_file: Path, monitor_file: Path | None = None) -> SeedImport:
    """:func:`import_seed` of the two JSON files (a monitor file alone is refused)."""
    backup = _read_json(backup_file)
    monitor = _read_json(monitor_file) if monitor_file is not None else None
    return import_seed(backup, monitor, base_dir=backup_file.resolve().parent)
