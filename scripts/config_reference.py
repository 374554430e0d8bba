"""Write docs/config-reference.md from the config file's model and its JSON Schema.

Run ``python scripts/config_reference.py`` after changing ``keyark/config/document.py``;
``tests/unit/test_config_reference.py`` fails while the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from keyark.config.checks import model_of
from keyark.config.display import config_schema
from keyark.config.document import KeyarkConfig

TARGET = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"
COMMAND = "python scripts/config_reference.py"

HEADER = f"""\
# keyark config file reference

Generated from the model (`keyark/config/document.py`) by `{COMMAND}`;
do not edit by hand. The same facts as a JSON Schema: `keyark config schema`.
A guide with examples: [automation.md](automation.md).

The file is YAML (`keyark.yaml`), JSON or TOML, found at `--config FILE`, `$KEYARK_CONFIG`,
`./keyark.yaml`, `~/.config/keyark/keyark.yaml` or `/etc/keyark/keyark.yaml`.
Secrets appear only by reference (`password_file`, `password_command`, `password_env`,
`{{file: ...}}`, `{{env: ...}}`, `{{command: ...}}`); a secret written inline is refused.
Durations are `30s`, `10m`, `2h`, `1d`; sizes `20MiB`.
"""


def _type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    union = schema.get("anyOf") or schema.get("oneOf")
    if union:
        parts = [_type(part, defs) for part in union if part.get("type") != "null"]
        text = " or ".join(dict.fromkeys(parts))
        return text or "null"
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in schema:
        return f"map of name → {_type(schema['additionalProperties'], defs)}"
    return {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean"}.get(
        kind, str(kind)
    )


def _default(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "(its defaults)"
    dumped = model.__pydantic_serializer__.to_python(
        model.model_construct(**{name: value}), mode="json", include={name}
    )
    return f"`{json.dumps(dumped.get(name, value))}`"


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> None:
    """Every model reachable from ``model``, by class name, in first-seen order."""
    if model.__name__ in seen:
        return
    seen[model.__name__] = model

    for field in model.model_fields.values():
        for candidate in _nested(field.annotation):
            found = model_of(candidate)
            if found is not None:
                _models(found, seen)


def _nested(annotation: Any) -> list[Any]:
    from typing import get_args

    found = [annotation]
    for argument in get_args(annotation):
        found += _nested(argument)
    return found


def _model_doc(annotation: Any) -> str:
    """The first line of the docstring of the model ``annotation`` names ('' for none)."""
    model = model_of(annotation)
    if model is None or not model.__doc__:
        return ""
    return model.__doc__.strip().splitlines()[0]


def render() -> str:
    """The reference page's text."""
    schema = config_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    models: dict[str, type[BaseModel]] = {}
    _models(KeyarkConfig, models)
    out = [HEADER]
    for name, model in models.items():
        properties = (
            schema["properties"]
            if model is KeyarkConfig
            else defs.get(name, {}).get("properties", {})
        )
        doc = _model_doc(model).replace("``", "`")
        out += [
            f"## {name}",
            "",
            doc,
            "",
            "| key | type | default | description |",
            "|---|---|---|---|",
        ]
        for field_name, field in model.model_fields.items():
            key = field.alias or field_name
            prop = properties.get(key, {})
            description = (
                field.description or prop.get("description") or _model_doc(field.annotation)
            )
            description = description.replace("\n", " ").replace("``", "`").replace("|", "\\|")
            out.append(
                f"| `{key}` | {_type(prop, defs)} | {_default(model, field_name)} | {description} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    """Write the page; print where."""
    TARGET.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
