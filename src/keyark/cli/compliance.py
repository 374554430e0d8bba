"""``keyark compliance report``: PCI DSS and GDPR evidence as Markdown, HTML or JSON."""

from __future__ import annotations

from pathlib import Path

import click

from keyark import ops
from keyark.cli.config_option import config_option, found_config
from keyark.cli.verb import start
from keyark.errors import ComplianceFailedError


@click.group("compliance")
def command() -> None:
    """Report PCI DSS and GDPR compliance evidence gathered from the repository."""


@command.command("report")
@click.option(
    "--standard",
    type=click.Choice(["pci-dss", "gdpr", "all"]),
    default="all",
    show_default=True,
    help="The standard whose controls to check.",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
    help="Markdown, a self-contained HTML page, or JSON (--json too).",
)
@click.option("--out", "out_file", metavar="FILE", help="Write the report to FILE.")
@config_option
@click.pass_context
def report(ctx: click.Context, standard: str, form: str, out_file: str | None) -> None:
    """Check each control (PASS, FAIL, WARN, N/A) with its evidence and remediation.

    Evidence comes from the repository (keys, slots, inventory, audit log) and, with a
    config file, its run history (checks, restore drills) and alert channels. Exits 1
    when a control fails (the report is written first).
    """
    out, context = start(ctx)
    config = found_config(ctx)
    result = ops.compliance_report(context, ops.ComplianceOptions(standard, config))
    text = ops.render_report(result, "json" if out.json else form)
    if out_file:
        Path(out_file).write_text(text, encoding="utf-8")
        out.print(f"report written to {out_file}")
    else:
        click.echo(text, nl=False)
    failed = result.failed
    if failed:
        names = ", ".join(c.reference for c in failed)
        raise ComplianceFailedError(f"{len(failed)} control(s) fail: {names}")
