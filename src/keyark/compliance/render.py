"""A compliance report as Markdown, self-contained HTML (every value escaped) or JSON."""

from __future__ import annotations

import html
import json

from keyark.compliance.model import ComplianceReport, ControlResult, EvidenceItem, Status

#: The formats :func:`render` writes.
FORMATS: tuple[str, ...] = ("md", "html", "json")

_COLOURS = {
    Status.PASS: "#1a7f37",
    Status.FAIL: "#cf222e",
    Status.WARN: "#9a6700",
    Status.NOT_APPLICABLE: "#57606a",
}


def render(report: ComplianceReport, form: str) -> str:
    """The report in ``form`` (``md``, ``html`` or ``json``)."""
    if form == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if form == "html":
        return to_html(report)
    if form == "md":
        return to_markdown(report)
    raise ValueError(f"unknown report format {form!r}")


def _when(item: EvidenceItem) -> str:
    return "" if item.time is None else item.time.isoformat(timespec="seconds")


def _cell(text: str) -> str:
    """Markdown table cell text: pipes escaped, one line."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _counts(report: ComplianceReport) -> str:
    return ", ".join(f"{n} {s}" for s, n in report.counts().items())


def to_markdown(report: ComplianceReport) -> str:
    """A heading, a summary table, then each control with its evidence."""
    lines = [
        f"# Compliance report: {report.standard}",
        "",
        f"- Repository: {report.repository}",
        f"- Generated: {report.generated.isoformat(timespec='seconds')}",
        f"- Controls: {_counts(report)}",
        "",
        "| Control | Reference | Status | Finding |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(c.title)} | {_cell(c.reference)} | {c.status} | {_cell(c.finding)} |"
        for c in report.controls
    ]
    for control in report.controls:
        lines += ["", f"## {control.reference}: {control.title}", ""]
        lines += [f"**{control.status}**: {control.finding}"]
        if control.evidence:
            lines += [""]
        lines += [
            f"- {item.label}: {item.value}" + (f" ({_when(item)})" if item.time else "")
            for item in control.evidence
        ]
        if control.remediation:
            lines += ["", f"Remediation: {control.remediation}"]
    return "\n".join(lines) + "\n"


def _html_control(control: ControlResult) -> str:
    e = html.escape
    colour = _COLOURS[control.status]
    evidence = "".join(
        f"<tr><td>{e(i.label)}</td><td>{e(i.value)}</td><td>{e(_when(i))}</td></tr>"
        for i in control.evidence
    )
    remedy = f"<p><b>Remediation:</b> {e(control.remediation)}</p>" if control.remediation else ""
    return (
        f'<section id="{e(control.id)}"><h2>{e(control.reference)}: {e(control.title)}</h2>'
        f'<p><span class="status" style="background:{colour}">{e(str(control.status))}</span> '
        f"{e(control.finding)}</p>"
        + (
            f"<table><tr><th>Evidence</th><th>Value</th><th>Time</th></tr>{evidence}</table>"
            if evidence
            else ""
        )
        + remedy
        + "</section>"
    )


def to_html(report: ComplianceReport) -> str:
    """One self-contained page (inline style, no script, no external resource)."""
    e = html.escape
    rows = "".join(
        f'<tr><td><a href="#{e(c.id)}">{e(c.reference)}</a></td><td>{e(c.title)}</td>'
        f'<td style="color:{_COLOURS[c.status]}"><b>{e(str(c.status))}</b></td></tr>'
        for c in report.controls
    )
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
        ".status{color:#fff;padding:.1em .4em;border-radius:.2em}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Compliance report: {e(report.standard)}</title><style>{style}</style></head><body>"
        f"<h1>Compliance report: {e(report.standard)}</h1>"
        f"<p>Repository: {e(report.repository)}<br>Generated: "
        f"{e(report.generated.isoformat(timespec='seconds'))}<br>Controls: {e(_counts(report))}</p>"
        f"<table><tr><th>Reference</th><th>Control</th><th>Status</th></tr>{rows}</table>"
        + "".join(_html_control(c) for c in report.controls)
        + "</body></html>\n"
    )


__all__ = ["FORMATS", "render", "to_html", "to_markdown"]
