"""``compliance report``: PCI DSS v4.0 and GDPR controls checked against the repository.

The evidence is gathered through other operations (key status, key list, inventory,
audit log and verify) and the run history and alert records of the config's state
directory (:mod:`keyark.compliance.evidence`); the controls are data
(:mod:`keyark.compliance.pci`, :mod:`keyark.compliance.gdpr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keyark.compliance import gdpr, pci
from keyark.compliance.evidence import gather
from keyark.compliance.model import ComplianceReport as ComplianceReport
from keyark.compliance.model import Control
from keyark.compliance.model import ControlResult as ControlResult
from keyark.compliance.model import EvidenceItem as EvidenceItem
from keyark.compliance.model import Status as Status
from keyark.compliance.render import FORMATS
from keyark.compliance.render import render as render_compliance
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.ops.catalogue import operation

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig

#: The standards a report covers.
STANDARDS: tuple[str, ...] = ("pci-dss", "gdpr", "all")
#: The formats a report is written in.
REPORT_FORMATS: tuple[str, ...] = FORMATS


@dataclass(frozen=True)
class ComplianceOptions:
    """Which standard, and the config whose run history and alert channels count."""

    standard: str = "all"
    config: KeyarkConfig | None = None
    #: The state directory (run history, alert records); None: the config's or the default.
    state_dir: Path | None = None


@operation("compliance report", options=ComplianceOptions, result=ComplianceReport, mutates=False)
def compliance_report(ctx: OperationContext, options: ComplianceOptions) -> ComplianceReport:
    """Check PCI DSS and GDPR controls against the repository and gather the evidence."""
    if options.standard not in STANDARDS:
        raise UsageError(
            f"unknown standard {options.standard!r}: use one of {', '.join(STANDARDS)}"
        )
    controls: list[Control] = []
    if options.standard in ("pci-dss", "all"):
        controls += pci.CONTROLS
    if options.standard in ("gdpr", "all"):
        controls += gdpr.CONTROLS
    evidence = gather(ctx, options.config, state_dir=options.state_dir)
    report = ComplianceReport(options.standard, ctx.url, evidence.now)
    report.controls = [ControlResult.of(control, evidence) for control in controls]
    return report


def render_report(report: ComplianceReport, form: str) -> str:
    """The report as ``md``, ``html`` (self-contained, escaped) or ``json`` text."""
    if form not in REPORT_FORMATS:
        raise UsageError(f"unknown format {form!r}: use one of {', '.join(REPORT_FORMATS)}")
    return render_compliance(report, form)
