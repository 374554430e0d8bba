"""The config as ``config show`` and ``config schema`` present it.

:func:`shown_document`: the effective config (every default filled in, unset keys
left out) with secrets redacted: command lines that print a secret
(``password_command``, a reference's ``command``) become ``<redacted>``, and a
password in a URL or a ``password=`` pair in any text is masked by
:mod:`keyark.redaction`. :func:`config_schema`: the JSON Schema of the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyark.redaction import redact

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig

REDACTED = "<redacted>"
#: Keys whose value is a command printing a secret, or a secret itself.
SECRET_KEYS = frozenset({"password_command", "command", "value"})
#: The keys of a secret reference that say where the secret comes from.
REFERENCE_SOURCES = frozenset({"env", "file", "command", "prompt", "value"})
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def shown_document(config: KeyarkConfig) -> dict[str, Any]:
    """The effective config as plain data, secrets redacted."""
    document = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    shown = _redacted(document)
    assert isinstance(shown, dict)
    return shown


def _redacted(value: Any) -> Any:
    if isinstance(value, dict) and "no_terminal" in value:  # a secret reference: its source
        value = {key: item for key, item in value.items() if key in REFERENCE_SOURCES}
    if isinstance(value, dict):
        return {
            key: REDACTED if key in SECRET_KEYS and item is not None else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the config file."""
    from keyark.config.document import KeyarkConfig

    schema = KeyarkConfig.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, "title": "keyark.yaml", **schema}
