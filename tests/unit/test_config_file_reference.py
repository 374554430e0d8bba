"""docs/config-reference.md is generated from the model and kept current."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "scripts" / "config_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_current() -> None:
    script = load_script()
    committed = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert committed == script.render(), (
        f"docs/config-reference.md is stale: regenerate it with '{script.COMMAND}'"
    )


def test_every_section_and_field_is_described() -> None:
    from keyark.config.document import JobSpec, KeyarkConfig

    text = load_script().render()
    for section in ("KeyarkConfig", "RepositoryEntry", "JobSpec", "Retention", "Hooks"):
        assert f"## {section}" in text
    for model in (KeyarkConfig, JobSpec):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            assert f"| `{field.alias or name}` |" in text
    assert "| `finally` |" in text  # the alias, as written in the file
