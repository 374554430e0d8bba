"""docs/monitoring.md documents every metric (type and labels as exposed), and its
Prometheus alert rules are valid (promtool, the rule checker of the Prometheus package)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from keyark.metrics.names import METRICS

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def metrics_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## Metrics\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    rows = {}
    for line in metrics_section().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`keyark_"):
            labels = tuple(sorted(re.findall(r"`(\w+)`", cells[2])))
            rows[cells[0].strip("`")] = (cells[1], labels)
    expected = {spec.exposed: (spec.type, tuple(sorted(spec.labels))) for spec in METRICS.values()}
    assert rows == expected


def test_the_alert_rule_example_is_valid(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (the prometheus package has it)")
    block = re.search(r"### Alert rules\n\n```yaml\n(.*?)```", metrics_section(), re.S)
    assert block is not None
    rules = tmp_path / "rules.yml"
    rules.write_text(block.group(1))
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    # a positive control: promtool does refuse a broken expression
    rules.write_text(block.group(1).replace("> 26 * 3600", "> > 26"))
    broken = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, check=False
    )
    assert broken.returncode != 0
