"""The README's "Monitoring and alerts" config and docs/monitoring.md's check table match
the code: the YAML loads as a config, every check is documented, and every threshold
the docs name exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from keyark.config.document import KeyarkConfig, MonitorThresholds
from keyark.monitor.checks import CHECK_NAMES

ROOT = Path(__file__).resolve().parents[2]


def _section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_the_readme_monitoring_config_loads() -> None:
    section = _section((ROOT / "README.md").read_text(), "## Monitoring and alerts")
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    document = yaml.safe_load(block.group(1))
    config = KeyarkConfig.model_validate({"version": 1, **document})
    assert config.monitor.interval.total_seconds() == 300
    assert len(config.notifications) == 5
    for check in CHECK_NAMES:
        assert f"`{check}`" in section, check


def test_the_monitoring_guide_names_every_check_and_only_real_thresholds() -> None:
    guide = (ROOT / "docs" / "monitoring.md").read_text().split("\n## Metrics", 1)[0]
    table = _section(guide, "### The checks")
    for check in CHECK_NAMES:
        assert f"| `{check}` |" in table, check
    named = set(re.findall(r"`([a-z_]+_(?:hours|percent|days|seconds|per_cpu|quota))`", guide))
    assert named, "the guide names no threshold"
    assert named <= set(MonitorThresholds.model_fields), named - set(MonitorThresholds.model_fields)
