"""Find the config file and load it: YAML, JSON or TOML into :class:`KeyarkConfig`.

- :func:`find_config_file`: the explicit file, else ``$KEYARK_CONFIG``, else the first
  of ``./keyark.yaml``, ``~/.config/keyark/keyark.yaml``, ``/etc/keyark/keyark.yaml``
  that exists.
- :func:`load_config_file`: parse by extension (``.yaml``/``.yml``, ``.json``,
  ``.toml``) and validate; every problem (syntax, types, unknown keys, names that
  point nowhere, inline secrets) is reported at once in one :class:`ConfigFileError`,
  each with its dotted path and line.
- :func:`config_from_option`: both, for a face's ``--config`` value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from keyark.config.problems import ConfigFileError, ConfigNotFoundError, ConfigProblem
from keyark.errors import Hint

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig

#: The variable naming the config file (read by :func:`find_config_file`).
CONFIG_VARIABLE = "KEYARK_CONFIG"
#: File name extension -> document kind.
KINDS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}


def search_path(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The places looked at when no file is named, first match wins."""
    environment = os.environ if environ is None else environ
    home = environment.get("HOME")
    user = Path(home) if home else Path.home()
    config_home = environment.get("XDG_CONFIG_HOME") or str(user / ".config")
    return [
        Path("keyark.yaml"),
        Path(config_home) / "keyark" / "keyark.yaml",
        Path("/etc/keyark/keyark.yaml"),
    ]


def find_config_file(
    explicit: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The config file to use, or None when none is named and none exists.

    ``explicit`` (a ``--config`` value) first, then the variable ``KEYARK_CONFIG``;
    a file named either way that does not exist is an error, not skipped.
    """
    environment = os.environ if environ is None else environ
    named = explicit if explicit is not None else environment.get(CONFIG_VARIABLE) or None
    if named is not None:
        path = Path(named).expanduser()
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a file"
            raise ConfigNotFoundError(f"config file {path} {what}", hint=Hint.CONFIG_FILE)
        return path
    for candidate in search_path(environment):
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # a place this user may not look into (another user's HOME)
            continue
    return None


def config_kind(path: Path) -> str:
    """``yaml``, ``json`` or ``toml`` by the file's extension."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        problem = ConfigProblem(
            "", None, f"unknown file type {path.suffix or '(none)'!r}: use .yaml, .json or .toml"
        )
        raise ConfigFileError(str(path), [problem])
    return kind


def load_config_file(path: str | os.PathLike[str]) -> KeyarkConfig:
    """The validated config of ``path``; :class:`ConfigFileError` lists every problem."""
    file = Path(path)
    kind = config_kind(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigFileError(
            str(file), [ConfigProblem("", None, f"cannot read: {reason}")]
        ) from None
    return parse_config_text(text, kind, str(file))


def parse_config_text(text: str, kind: str, name: str = "<text>") -> KeyarkConfig:
    """The validated config of ``text`` (a document of ``kind``); ``name`` for messages."""
    from pydantic import ValidationError

    from keyark.config.checks import inline_secret_problems, reference_problems
    from keyark.config.document import DOCUMENT_CHECKS, KeyarkConfig
    from keyark.config.positions import DocumentSyntaxError, parse_document
    from keyark.config.problems import problem_at, validation_problems

    try:
        data, lines = parse_document(text, kind)
    except DocumentSyntaxError as error:
        raise ConfigFileError(
            name, [ConfigProblem("", error.line, f"{kind.upper()} syntax: {error}")]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problem = ConfigProblem(
            "",
            lines.line_of(()),
            "the file must be a mapping of keys (version, repositories, jobs, ...)",
        )
        raise ConfigFileError(name, [problem])
    secrets = inline_secret_problems(data)
    found = [problem_at(location, message, lines) for location, message in secrets]
    found += [
        problem_at(location, message, lines) for location, message in reference_problems(data)
    ]
    try:
        config = KeyarkConfig.model_validate(data)
    except ValidationError as error:
        found += validation_problems(
            error, lines, covered=[location for location, _ in secrets], skip=DOCUMENT_CHECKS
        )
    if found:
        found.sort(key=lambda problem: (problem.line or 0, problem.path))
        raise ConfigFileError(name, found)
    return config


def require_config_file(
    explicit: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> Path:
    """:func:`find_config_file`, with :class:`ConfigNotFoundError` when there is none."""
    path = find_config_file(explicit, environ)
    if path is None:
        looked = ", ".join(str(place) for place in search_path(environ))
        raise ConfigNotFoundError(
            f"no config file found (looked for {looked})", hint=Hint.CONFIG_FILE
        )
    return path


def config_from_option(
    value: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> KeyarkConfig:
    """The config a face's ``--config`` option names (or the one found); an error when
    there is none (:class:`ConfigNotFoundError`) or it is not valid."""
    return load_config_file(require_config_file(value, environ))
