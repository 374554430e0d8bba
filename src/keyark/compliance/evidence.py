"""What a compliance report is built from, gathered through catalogue operations.

Key status (epochs, ages, rotation policy), key slots (kinds, KDFs, recovery shares),
the inventory (when the inventory operation exists), the audit log and its
verification, the run history of the config's state directory (backups, checks,
restore drills), and the alert channels with their delivery records. A source that
cannot be read is noted (``unavailable``), never guessed: the control that needs it
says so.

Restore drills (the recovery issue records them) are runs of the run history with
``kind == "drill"``: ``job`` names the repository (its name in the config,
``drill:<name>``, a job of that repository, ``drill:<job>`` or ``maintenance.drill``);
``status`` ``success`` or ``failed``; ``started``/``finished``/``duration`` the drill's
times. Without a config every drill
of the state directory counts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyark import ops
from keyark.context import OperationContext
from keyark.errors import KeyarkError

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig

#: The run-history kind of a restore drill (the contract with the recovery tooling).
DRILL_KIND = "drill"


@dataclass(frozen=True)
class RepositoryFacts:
    """What the opened repository says of its own protection."""

    repository_id: str
    created: datetime
    #: Cipher of each data key (``AES_256_GCM``, ``CHACHA20_POLY1305``).
    ciphers: tuple[str, ...]
    #: Whether the repository config is signed with a keyring key (prevents substitution).
    config_signed: bool
    #: The keyring's save counter (clients refuse an older keyring than one seen).
    keyring_version: int


@dataclass
class Evidence:
    """Everything the controls check; ``unavailable`` says which sources could not be read."""

    now: datetime
    repository: str
    repository_name: str | None = None
    facts: RepositoryFacts | None = None
    key_status: ops.KeyStatus | None = None
    slots: list[ops.KeyInfo] = field(default_factory=list)
    #: The latest snapshot's inventory findings (None: not available).
    inventory: list[Any] | None = None
    audit_records: list[Any] | None = None
    audit_verify: Any | None = None
    #: ``audit.retention`` of the config (None: no config, the default applies).
    audit_retention: timedelta | None = None
    runs: list[ops.RunRecord] = field(default_factory=list)
    #: Configured alert channels (``type`` or ``type:name``).
    channels: list[str] = field(default_factory=list)
    #: Failed alert deliveries per channel (None: no delivery records).
    delivery_failures: dict[str, int] | None = None
    #: Source -> why it could not be read.
    unavailable: dict[str, str] = field(default_factory=dict)

    def runs_of(self, kind: str) -> list[ops.RunRecord]:
        """Runs of ``kind`` (``backup``, ``check``, ``drill``, ...), oldest first."""
        return [run for run in self.runs if run.kind == kind]

    def last_run(self, kind: str, *, status: str | None = None) -> ops.RunRecord | None:
        """The newest run of ``kind`` (with ``status`` when given)."""
        found = [r for r in self.runs_of(kind) if status is None or r.status == status]
        return found[-1] if found else None


def gather(
    ctx: OperationContext,
    config: KeyarkConfig | None,
    *,
    state_dir: Path | None = None,
    now: datetime | None = None,
) -> Evidence:
    """Read every source (through operations); a source that fails is noted."""
    evidence = Evidence(now=now or datetime.now(UTC), repository=ctx.url)
    evidence.repository_name = _repository_name(ctx, config)
    _read(evidence, "repository", lambda: _facts(ctx, evidence))
    _read(evidence, "key status", lambda: _key_status(ctx, evidence))
    _read(evidence, "key slots", lambda: _slots(ctx, evidence))
    _read(evidence, "inventory", lambda: _inventory(ctx, evidence))
    _read(evidence, "audit log", lambda: _audit(ctx, evidence))
    _read(evidence, "run history", lambda: _runs(config, state_dir, evidence))
    _read(evidence, "alert deliveries", lambda: _deliveries(config, state_dir, evidence))
    evidence.channels = alert_channels(config)
    evidence.audit_retention = _audit_retention(config)
    return evidence


def _read(evidence: Evidence, source: str, read: Any) -> None:
    try:
        read()
    except (KeyarkError, OSError, ImportError, AttributeError, TypeError, ValueError) as error:
        evidence.unavailable[source] = str(error) or type(error).__name__


def _facts(ctx: OperationContext, evidence: Evidence) -> None:
    from keyark.ops.session import opened

    with opened(ctx) as repo:
        keyring = repo.keys.keyring
        created = datetime.fromisoformat(repo.config.created)
        evidence.facts = RepositoryFacts(
            repository_id=repo.config.repo_id,
            created=created if created.tzinfo else created.replace(tzinfo=UTC),
            ciphers=tuple(sorted({dk.key.cipher.name for dk in keyring.data_keys.values()})),
            config_signed=bool(keyring.config_signing_key),
            keyring_version=keyring.version,
        )


def _key_status(ctx: OperationContext, evidence: Evidence) -> None:
    evidence.key_status = ops.key_status(ctx, ops.KeyStatusOptions())


def _slots(ctx: OperationContext, evidence: Evidence) -> None:
    keys = ops.key_list(ctx, ops.KeyListOptions()).keys
    # By kind and label, then age (ids are random and creation times tie within a second):
    # the same repository state reads the same every time.
    evidence.slots = sorted(
        keys, key=lambda slot: (slot.kind, slot.label, slot.created, slot.slot_id)
    )


def _inventory(ctx: OperationContext, evidence: Evidence) -> None:
    if "inventory" not in ops.OPERATIONS:
        raise ImportError("inventory not available")
    found = ops.inventory(ctx, ops.InventoryOptions())
    evidence.inventory = list(found.findings)


def _audit(ctx: OperationContext, evidence: Evidence) -> None:
    evidence.audit_records = list(ops.audit_log(ctx, ops.AuditLogOptions()).records)
    evidence.audit_verify = ops.audit_verify(ctx, ops.AuditVerifyOptions())


def _runs(config: KeyarkConfig | None, state_dir: Path | None, evidence: Evidence) -> None:
    store = _store(config, state_dir)
    if not store.path.exists():
        return  # no history yet (reading would create the database)
    jobs = _jobs_of(config, evidence.repository_name)
    evidence.runs = [run for run in store.runs() if jobs is None or run.job in jobs]


def _store(config: KeyarkConfig | None, state_dir: Path | None) -> ops.RunStore:
    if config is not None:
        return ops.state_store(config, state_dir)
    return ops.RunStore(state_dir or ops.default_state_dir())


def _jobs_of(config: KeyarkConfig | None, name: str | None) -> set[str] | None:
    """The task names whose runs concern repository ``name`` (None: every run)."""
    if config is None or name is None:
        return None
    jobs = {job for job, spec in config.jobs.items() if spec.repository == name}
    jobs |= {f"drill:{job}" for job in set(jobs)}
    jobs |= {name, f"drill:{name}"}
    for task_name in ("check", "prune", "rotate", "drill"):
        task = getattr(config.maintenance, task_name)
        if task is not None and (not task.repositories or name in task.repositories):
            jobs.add(f"maintenance.{task_name}")
    return jobs


def _repository_name(ctx: OperationContext, config: KeyarkConfig | None) -> str | None:
    """The config's name of the context's repository (matched by URL)."""
    if config is None or ctx.config is None:
        return None
    for name, entry in config.repositories.items():
        if entry.url == ctx.url:
            return name
    return None


def alert_channels(config: KeyarkConfig | None) -> list[str]:
    """The configured alert channels: ``type`` or ``type:name`` each."""
    if config is None:
        return []
    section = getattr(config, "notifications", None)
    if isinstance(section, list | tuple):
        named = []
        for channel in section:
            kind = str(getattr(channel, "type", "channel"))
            name = getattr(channel, "name", None)
            named.append(f"{kind}:{name}" if name else kind)
        return named
    email = getattr(section, "email", None)
    if email is not None and getattr(email, "enabled", False) and getattr(email, "recipients", []):
        return ["email"]
    return []


def _deliveries(config: KeyarkConfig | None, state_dir: Path | None, evidence: Evidence) -> None:
    """Failed deliveries per channel from the monitoring's alert store (when it exists)."""
    store_module = importlib.import_module("keyark.monitor.alert_store")
    dispatch = importlib.import_module("keyark.notify.dispatch")
    directory = _store(config, state_dir).directory
    kind = store_module.AlertStore
    store = kind.of(config, directory) if config is not None else kind(directory)
    failures = dispatch.failed_deliveries(store)
    evidence.delivery_failures = {str(k): int(v) for k, v in dict(failures).items()}


def _audit_retention(config: KeyarkConfig | None) -> timedelta | None:
    section = getattr(config, "audit", None) if config is not None else None
    value = getattr(section, "retention", None)
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value
    from keyark.units import parse_seconds

    return timedelta(seconds=parse_seconds(str(value), "audit.retention"))


__all__ = ["DRILL_KIND", "Evidence", "RepositoryFacts", "alert_channels", "gather"]
