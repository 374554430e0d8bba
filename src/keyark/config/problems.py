"""What is wrong with a config file: each problem with its path and line, all at once.

:class:`ConfigProblem` is one (``jobs.tls.schedule``, line 14, ``hour 25 is out of
range (0-23)``); :class:`ConfigFileError` carries every problem of a file.
:func:`validation_problems` turns pydantic's errors into problems in plain words
(``unknown key 'schedul' (did you mean 'schedule'?)`` instead of "Extra inputs are
not permitted").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from keyark.config.checks import SECRET_WORDS, Location, field_names, model_at, suggestion
from keyark.config.positions import LineMap
from keyark.errors import Hint, KeyarkError, UsageError


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a config file: where (dotted path, line) and what is wrong."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if not self.path:
            return self.message if self.line is None else f"line {self.line}: {self.message}"
        where = self.path if self.line is None else f"{self.path} (line {self.line})"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """``{"path", "line", "message"}``."""
        return asdict(self)


class ConfigFileError(KeyarkError):
    """A config file cannot be used: its problems, every one with path and line."""

    code = "config_invalid"

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.file = file
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"config {file} is not valid ({count} problem{'s' if count != 1 else ''}):"
        lines = [heading, *(f"  {problem}" for problem in self.problems)]
        super().__init__("\n".join(lines), hint=Hint.CONFIG_REFERENCE)


class ConfigNotFoundError(UsageError):
    """No config file was given or found in the usual places."""

    code = "no_config"


def dotted(location: Location) -> str:
    """``("jobs", "tls", "copy_to", 0)`` -> ``jobs.tls.copy_to[0]``."""
    text = ""
    for step in location:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def problem_at(location: Location, message: str, lines: LineMap) -> ConfigProblem:
    """A problem at ``location`` with the line the map gives it."""
    return ConfigProblem(dotted(location), lines.line_of(location), message)


def validation_problems(
    error: ValidationError, lines: LineMap, *, covered: Iterable[Location] = (), skip: str = ""
) -> list[ConfigProblem]:
    """pydantic's errors as problems; those at or below a ``covered`` location (already
    reported in better words) and those of error type ``skip`` are left out."""
    done = list(covered)
    found: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        if item["type"] == skip:
            continue
        location: Location = tuple(item["loc"])
        if any(location[: len(prefix)] == prefix for prefix in done):
            continue
        found.append(problem_at(location, _reworded(item, location), lines))
    return found


def _reworded(item: Any, location: Location) -> str:
    """pydantic's message in the words of a config file."""
    kind = item["type"]
    message = str(item["msg"])
    given = item.get("input")
    if any(word in str(step).lower() for step in location for word in SECRET_WORDS):
        given = _Hidden()
    if kind == "extra_forbidden" and location:
        key = str(location[-1])
        model = model_at(location[:-1])
        known = sorted(field_names(model)) if model is not None else []
        return f"unknown key {key!r}{suggestion(key, known)}"
    if kind == "missing" and location:
        return f"missing required key {str(location[-1])!r}"
    if kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        return f"{_short(given)} is not allowed; use {expected}"
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {_short(given)}"
    if message.startswith("Input should be"):
        return f"must be{message.removeprefix('Input should be')} (got {_short(given)})"
    return message[:1].lower() + message[1:]


class _Hidden:
    """Stands for a value not echoed (it sits at a secret-looking key)."""

    def __repr__(self) -> str:
        return "a value not shown"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
