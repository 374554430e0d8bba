"""GDPR (Regulation (EU) 2016/679) controls keyark gives evidence for: Art. 32(1)(a)-(d)
(security of processing) and Art. 17 (erasure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyark.compliance.evidence import DRILL_KIND, Evidence
from keyark.compliance.model import Control, EvidenceItem, Outcome, Status, moment, unavailable
from keyark.compliance.pci import encryption

GDPR = "gdpr"
#: Integrity: a full check at least this recent.
CHECK_MAX_AGE = timedelta(days=31)
#: Regular testing: a restore drill at least this recent (quarterly).
DRILL_MAX_AGE = timedelta(days=92)


def _older(evidence: Evidence, when: datetime | None, limit: timedelta) -> bool:
    """Whether ``when`` (naive: UTC) is unknown or more than ``limit`` before the report."""
    if when is None:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return evidence.now - when > limit


def integrity(evidence: Evidence) -> Outcome:
    """The last full check succeeded, recently."""
    check = evidence.last_run("check")
    if check is None:
        return Outcome(Status.WARN, "no check recorded in the run history")
    when = check.finished or check.started
    items = (EvidenceItem("last check", check.status, when),)
    if check.status != "success":
        return Outcome(Status.FAIL, f"the last check ended {check.status}", items)
    if _older(evidence, when, CHECK_MAX_AGE):
        return Outcome(Status.WARN, "the last successful check is older than 31 days", items)
    return Outcome(Status.PASS, "the last check passed", items)


def _drill_items(evidence: Evidence) -> tuple[EvidenceItem, ...]:
    drills = evidence.runs_of(DRILL_KIND)
    items = [EvidenceItem("restore drills recorded", str(len(drills)), evidence.now)]
    last_ok = evidence.last_run(DRILL_KIND, status="success")
    if last_ok is not None:
        took = "" if last_ok.duration is None else f" in {last_ok.duration:.0f}s"
        items.append(EvidenceItem("last successful drill", f"{last_ok.job}{took}", last_ok.started))
    if drills and drills[-1] is not last_ok:
        items.append(EvidenceItem("last drill", drills[-1].status, drills[-1].started))
    return tuple(items)


def timely_restore(evidence: Evidence) -> Outcome:
    """A restore drill measured how long restoring takes; backups succeed."""
    items = list(_drill_items(evidence))
    backup = evidence.last_run("backup", status="success")
    if backup is not None:
        items.append(EvidenceItem("last successful backup", backup.job, backup.finished))
    last_ok = evidence.last_run(DRILL_KIND, status="success")
    if last_ok is None:
        return Outcome(Status.WARN, "no restore drill has measured a restore", tuple(items))
    return Outcome(Status.PASS, "restores are measured by drills", tuple(items))


def regular_testing(evidence: Evidence) -> Outcome:
    """Restore drills run regularly and the newest succeeded."""
    missing = unavailable(evidence, "run history", "run history not available")
    if missing is not None:
        return missing
    drills = evidence.runs_of(DRILL_KIND)
    items = _drill_items(evidence)
    if not drills:
        return Outcome(Status.FAIL, "no restore drill ever ran", items)
    last = drills[-1]
    if last.status != "success":
        return Outcome(Status.FAIL, f"the last restore drill ended {last.status}", items)
    when = last.finished or last.started
    if _older(evidence, when, DRILL_MAX_AGE):
        return Outcome(Status.WARN, "the last restore drill is older than 92 days", items)
    return Outcome(Status.PASS, "restore drills run regularly and pass", items)


def erasure(evidence: Evidence) -> Outcome:
    """Erasures are recorded in the audit log and succeeded."""
    missing = unavailable(evidence, "audit log", "audit log not available")
    if missing is not None:
        return missing
    erasures = [r for r in evidence.audit_records or [] if r.operation == "erase"]
    items = tuple(
        EvidenceItem(
            f"erasure {r.ref}",
            r.result + (f" ({r.error_code})" if r.error_code else ""),
            moment(r.time),
        )
        for r in erasures
    )
    if not erasures:
        return Outcome(Status.NOT_APPLICABLE, "no erasure recorded", items)
    failed = [r for r in erasures if r.result == "failure"]
    if failed:
        return Outcome(Status.FAIL, f"{len(failed)} erasure(s) failed", items)
    return Outcome(Status.PASS, f"{len(erasures)} erasure(s) performed", items)


ART32 = "GDPR (EU) 2016/679 Art. 32(1)"
CONTROLS: tuple[Control, ...] = (
    Control(
        "gdpr-32-1-a",
        GDPR,
        f"{ART32}(a)",
        "The pseudonymisation and encryption of personal data",
        encryption,
        "re-encrypt under a current AEAD key",
    ),
    Control(
        "gdpr-32-1-b",
        GDPR,
        f"{ART32}(b)",
        "Ongoing confidentiality, integrity, availability and resilience",
        integrity,
        "schedule the check maintenance task (with a share of the data) and fix what it finds",
    ),
    Control(
        "gdpr-32-1-c",
        GDPR,
        f"{ART32}(c)",
        "Restore the availability and access to personal data in a timely manner",
        timely_restore,
        "run a restore drill to measure the time a restore takes",
    ),
    Control(
        "gdpr-32-1-d",
        GDPR,
        f"{ART32}(d)",
        "Regularly testing, assessing and evaluating the effectiveness of the measures",
        regular_testing,
        "schedule restore drills (at least quarterly) and fix failing ones",
    ),
    Control(
        "gdpr-17",
        GDPR,
        "GDPR (EU) 2016/679 Art. 17",
        "Right to erasure",
        erasure,
        "repeat the failed erasure and check its proof",
    ),
)

__all__ = ["CONTROLS", "GDPR"]
