"""``keyark compliance report`` through the installed command: exit 1 on a failing control
(the report is still written), the formats, --out, and an unknown standard refused."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CLI


def test_compliance_report_cli(cli: CLI, tmp_path: Path) -> None:
    state = {"KEYARK_STATE_DIR": str(tmp_path / "state")}
    cli.run("init", check=True)
    shown = cli.run("compliance", "report", "--standard", "pci-dss", env=state)
    assert shown.returncode == 1, shown.stderr
    assert "PCI DSS v4.0 3.7.4" in shown.stdout and "| FAIL |" in shown.stdout
    assert "control(s) fail" in shown.stderr and "3.7.4" in shown.stderr
    assert "GDPR" not in shown.stdout
    page = tmp_path / "report.html"
    written = cli.run("compliance", "report", "--format", "html", "--out", str(page), env=state)
    assert written.returncode == 1 and page.read_text().startswith("<!DOCTYPE html>")
    as_json = cli.run("compliance", "report", "--json", env=state)
    document = json.loads(as_json.stdout)
    statuses = {c["id"]: c["status"] for c in document["controls"]}
    assert statuses["pci-3.7.4"] == "FAIL" and statuses["gdpr-32-1-d"] == "FAIL"
    assert statuses["pci-3.5.1"] == "PASS"
    refused = cli.run("compliance", "report", "--standard", "sox", env=state)
    assert refused.returncode == 1 and "'sox' is not one of" in refused.stderr
