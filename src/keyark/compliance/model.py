"""Controls as data, their results, and the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keyark.compliance.evidence import Evidence


class Status(StrEnum):
    """A control's outcome."""

    PASS = "PASS"  # noqa: S105 (a status, not a secret)
    FAIL = "FAIL"
    WARN = "WARN"
    NOT_APPLICABLE = "N/A"


@dataclass(frozen=True)
class EvidenceItem:
    """One fact behind a status: what, its value, and when it was true (observed or made)."""

    label: str
    value: str
    time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "time": None if self.time is None else self.time.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class Outcome:
    """What a control's check found: the status, why (one line) and the evidence."""

    status: Status
    finding: str
    evidence: tuple[EvidenceItem, ...] = ()


@dataclass(frozen=True)
class Control:
    """One requirement keyark can give evidence for."""

    id: str
    #: ``pci-dss`` or ``gdpr``.
    standard: str
    #: The requirement's reference as published (``PCI DSS v4.0.1 3.7.4``, ``GDPR Art. 17``).
    reference: str
    title: str
    check: Callable[[Evidence], Outcome]
    #: What to do when it does not pass, in one line.
    remediation: str


@dataclass(frozen=True)
class ControlResult:
    """A control as the report shows it."""

    id: str
    standard: str
    reference: str
    title: str
    status: Status
    finding: str
    evidence: tuple[EvidenceItem, ...]
    remediation: str

    @classmethod
    def of(cls, control: Control, evidence: Evidence) -> ControlResult:
        """Run ``control``'s check over ``evidence``."""
        outcome = control.check(evidence)
        return cls(
            control.id,
            control.standard,
            control.reference,
            control.title,
            outcome.status,
            outcome.finding,
            outcome.evidence,
            control.remediation if outcome.status in (Status.FAIL, Status.WARN) else "",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "standard": self.standard,
            "reference": self.reference,
            "title": self.title,
            "status": str(self.status),
            "finding": self.finding,
            "evidence": [item.to_dict() for item in self.evidence],
            "remediation": self.remediation,
        }


@dataclass
class ComplianceReport:
    """Every control of the chosen standards, checked at ``generated``."""

    standard: str
    repository: str
    generated: datetime
    controls: list[ControlResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ControlResult]:
        """The controls that fail."""
        return [c for c in self.controls if c.status is Status.FAIL]

    def control(self, control_id: str) -> ControlResult:
        """The result of control ``control_id`` (KeyError if it is not in the report)."""
        for result in self.controls:
            if result.id == control_id:
                return result
        raise KeyError(control_id)

    def counts(self) -> dict[str, int]:
        """How many controls have each status."""
        return {str(s): sum(1 for c in self.controls if c.status is s) for s in Status}

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "compliance_report",
            "standard": self.standard,
            "repository": self.repository,
            "generated": self.generated.isoformat(timespec="seconds"),
            "counts": self.counts(),
            "passed": not self.failed,
            "controls": [c.to_dict() for c in self.controls],
        }


def moment(text: str) -> datetime | None:
    """An ISO 8601 time (None if it does not parse)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def unavailable(evidence: Evidence, source: str, what: str) -> Outcome | None:
    """WARN when ``source`` could not be read (None when it could)."""
    why = evidence.unavailable.get(source)
    if why is None:
        return None
    return Outcome(Status.WARN, f"{what}: {why}", (EvidenceItem(source, f"not available: {why}"),))


__all__ = [
    "ComplianceReport",
    "Control",
    "ControlResult",
    "EvidenceItem",
    "Outcome",
    "Status",
    "moment",
    "unavailable",
]
