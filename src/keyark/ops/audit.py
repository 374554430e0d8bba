"""``audit log``, ``audit verify``, ``audit export``: read and check the audit log.

The log itself is written by the catalogue (every audited operation passes
:meth:`keyark.ops.catalogue.Operation.__call__`); these operations read it from the
repository's sealed copy merged with this machine's local copy (see ``docs/audit.md``).
Reading the log is itself audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from keyark.audit.export import matches, to_csv, to_jsonl
from keyark.audit.policy import AuditPolicy as AuditPolicy
from keyark.audit.policy import configured_policy
from keyark.audit.reader import read_log
from keyark.audit.record import AuditRecord as AuditRecord
from keyark.audit.record import Checkpoint as Checkpoint
from keyark.config.document import KeyarkConfig
from keyark.context import Actor, OperationContext
from keyark.errors import UsageError
from keyark.ops.catalogue import operation
from keyark.ops.session import opened

#: The formats ``audit export`` writes.
EXPORT_FORMATS: tuple[str, ...] = ("jsonl", "csv")


@dataclass(frozen=True)
class AuditLogOptions:
    """Which records: since a time, of an actor (user, host, principal or job), of an operation."""

    since: datetime | None = None
    actor: str | None = None
    operation: str | None = None
    #: The newest ``limit`` records only (None: all).
    limit: int | None = None


@dataclass
class AuditLogResult:
    """The records, oldest first (merged over every writer by time, then writer and seq)."""

    records: list[AuditRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "audit_log", "records": [r.to_dict() for r in self.records]}


@dataclass(frozen=True)
class AuditVerifyOptions:
    """Also copy records the local log lost back from the repository copy."""

    restore_local: bool = True


@dataclass(frozen=True)
class AuditProblem:
    """One finding of ``audit verify``: the record (``writer/seq``) and what is wrong."""

    record: str
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AuditVerifyResult:
    """Whether every chain verifies; the first bad record; what could not be checked."""

    records: int = 0
    writers: int = 0
    checkpoints: int = 0
    #: Records after their writer's last signed checkpoint (their loss is undetectable).
    unanchored: int = 0
    #: Records copied back into the local log from the repository copy.
    restored: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    #: The time of the oldest authentic record (None: no record).
    oldest: str | None = None
    #: Days records are kept at least (``audit.retention``); keyark never deletes them.
    retention_days: int = 365

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    @property
    def first_bad(self) -> str | None:
        """The first bad record (``writer/seq``), or None."""
        return self.problems[0].record if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "audit_verify",
            "ok": self.ok,
            "records": self.records,
            "writers": self.writers,
            "checkpoints": self.checkpoints,
            "unanchored": self.unanchored,
            "restored": self.restored,
            "oldest": self.oldest,
            "retention_days": self.retention_days,
            "first_bad": self.first_bad,
            "problems": [problem.to_dict() for problem in self.problems],
        }


@dataclass(frozen=True)
class AuditExportOptions:
    """The format (``jsonl`` or ``csv``) and which records (as for ``audit log``)."""

    format: str = "jsonl"
    since: datetime | None = None
    actor: str | None = None
    operation: str | None = None


@dataclass
class AuditExport:
    """The exported text and how many records it holds."""

    format: str
    text: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "audit_export", "format": self.format, "count": self.count}


def audit_event(
    config: KeyarkConfig, operation: str, actor: Actor, *, path: str | None = None
) -> str | None:
    """Record an event outside the catalogue (``daemon start``, ``daemon stop``, ``config
    init``, ``config import`` of the file ``path``) for every repository of ``config``
    (held until the next keyed write there chains it); the reason when the record could
    not be written, else None."""
    from keyark.audit.hook import record_event

    policy = AuditPolicy.from_section(config.audit)
    locations = [entry.url for entry in config.repositories.values()]
    try:
        target = {"path": path} if path else None
        record_event(policy, operation, locations, actor.to_dict(), target)
    except (OSError, ValueError) as error:
        return getattr(error, "strerror", None) or str(error)
    return None


def _policy(ctx: OperationContext) -> AuditPolicy:
    return ctx.audit or configured_policy()


def _selected(
    ctx: OperationContext, since: datetime | None, actor: str | None, name: str | None
) -> list[AuditRecord]:
    with opened(ctx) as repo:
        outcome = read_log(repo, _policy(ctx), ctx.audit_targets[-1], ctx.url)
    return [
        record
        for record in outcome.records
        if matches(record, since=since, actor=actor, operation=name)
    ]


@operation("audit_log", options=AuditLogOptions, result=AuditLogResult, mutates=False)
def audit_log(ctx: OperationContext, options: AuditLogOptions) -> AuditLogResult:
    """Show the audit log (filtered by time, actor or operation)."""
    if options.limit is not None and options.limit < 1:
        raise UsageError("the number of records to show must be at least 1")
    records = _selected(ctx, options.since, options.actor, options.operation)
    if options.limit is not None:
        records = records[-options.limit :]
    return AuditLogResult(records)


@operation("audit_verify", options=AuditVerifyOptions, result=AuditVerifyResult, mutates=False)
def audit_verify(ctx: OperationContext, options: AuditVerifyOptions) -> AuditVerifyResult:
    """Verify the audit log's chains, MACs and signed checkpoints."""
    policy = _policy(ctx)
    with opened(ctx) as repo:
        target = ctx.audit_targets[-1]
        outcome = read_log(repo, policy, target, ctx.url, restore=options.restore_local)
    return AuditVerifyResult(
        records=len(outcome.records),
        writers=outcome.writers,
        checkpoints=outcome.checkpoints,
        unanchored=outcome.unanchored,
        restored=outcome.restored,
        problems=[AuditProblem(f.record, f.kind, f.message) for f in outcome.findings],
        oldest=outcome.records[0].time if outcome.records else None,
        retention_days=policy.retention_days,
    )


@operation("audit_export", options=AuditExportOptions, result=AuditExport, mutates=False)
def audit_export(ctx: OperationContext, options: AuditExportOptions) -> AuditExport:
    """Export the audit log as JSON lines or CSV."""
    if options.format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {options.format!r} (jsonl or csv)")
    records = _selected(ctx, options.since, options.actor, options.operation)
    text = to_jsonl(records) if options.format == "jsonl" else to_csv(records)
    return AuditExport(options.format, text, len(records))
