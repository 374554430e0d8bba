"""PCI DSS v4.0 requirement 10 checks: the audit log is active, intact and kept, and
failures are alerted (evidence from the audit log and the alert channels)."""

from __future__ import annotations

from datetime import timedelta

from keyark.compliance.evidence import Evidence
from keyark.compliance.model import EvidenceItem, Outcome, Status, moment, unavailable

#: PCI DSS 10.5.1: audit log history kept at least 12 months.
AUDIT_RETENTION_MIN = timedelta(days=365)


def audit_enabled(evidence: Evidence) -> Outcome:
    """The audit log is active and records operations."""
    missing = unavailable(evidence, "audit log", "audit log not available")
    if missing is not None:
        return missing
    records = evidence.audit_records or []
    if not records:
        return Outcome(Status.WARN, "the audit log holds no record", ())
    operations = sorted({r.operation for r in records})
    items = (
        EvidenceItem("records", str(len(records)), moment(records[-1].time)),
        EvidenceItem("first record", records[0].ref, moment(records[0].time)),
        EvidenceItem("operations recorded", ", ".join(operations)),
    )
    return Outcome(Status.PASS, f"{len(records)} audit record(s)", items)


def audit_protected(evidence: Evidence) -> Outcome:
    """``audit verify`` passes: no edited, deleted, reordered or inserted record."""
    missing = unavailable(evidence, "audit log", "audit log not available")
    if missing is not None:
        return missing
    verify = evidence.audit_verify
    if verify is None or not verify.records:
        return Outcome(Status.WARN, "the audit log holds no record to verify", ())
    items = (
        EvidenceItem("records verified", str(verify.records), evidence.now),
        EvidenceItem("writers / checkpoints", f"{verify.writers} / {verify.checkpoints}"),
        EvidenceItem("records after the last checkpoint", str(verify.unanchored)),
    )
    if not verify.ok:
        return Outcome(Status.FAIL, f"audit verify failed at {verify.first_bad}", items)
    return Outcome(Status.PASS, "audit log verified", items)


def audit_retention(evidence: Evidence) -> Outcome:
    """Audit records are kept at least 12 months."""
    kept = evidence.audit_retention
    shown = "365 days (default)" if kept is None else f"{kept.days} days"
    items = [EvidenceItem("audit.retention", shown, evidence.now)]
    records = evidence.audit_records or []
    if records:
        items.append(EvidenceItem("oldest record", records[0].ref, moment(records[0].time)))
    if kept is not None and kept < AUDIT_RETENTION_MIN:
        return Outcome(Status.FAIL, f"audit records kept {kept.days} days (< 365)", tuple(items))
    return Outcome(Status.PASS, "audit records kept at least 12 months", tuple(items))


def monitoring(evidence: Evidence) -> Outcome:
    """Alert channels are configured and their deliveries do not fail."""
    items = [EvidenceItem("alert channels", ", ".join(evidence.channels) or "(none)", evidence.now)]
    if not evidence.channels:
        return Outcome(Status.FAIL, "no alert channel configured", tuple(items))
    failures = evidence.delivery_failures
    if failures is None:
        why = evidence.unavailable.get("alert deliveries", "no delivery records")
        items.append(EvidenceItem("deliveries", f"not available: {why}"))
        return Outcome(Status.WARN, "alert delivery records not available", tuple(items))
    failed = {channel: n for channel, n in failures.items() if n}
    items.append(EvidenceItem("failed deliveries", str(sum(failed.values())), evidence.now))
    if failed:
        return Outcome(Status.FAIL, f"alert deliveries fail on {sorted(failed)}", tuple(items))
    return Outcome(Status.PASS, "alert channels configured and delivering", tuple(items))


__all__ = [
    "AUDIT_RETENTION_MIN",
    "audit_enabled",
    "audit_protected",
    "audit_retention",
    "monitoring",
]
