"""Path patterns with restic's filter rules (excludes, includes, rewrite).

A pattern is split at ``/`` into components, each matched against one path
component with Go's ``filepath.Match`` syntax (``*``, ``?``, ``[a-z]``, ``[^a-z]``,
``\\`` escapes): ``*`` never crosses a ``/``. A component that is exactly ``**``
matches any number of components, zero included. A leading ``/`` anchors the
pattern at the root; a relative pattern matches at any depth. A pattern that
matches a directory matches everything below it; a trailing ``/`` is ignored.
``!pattern`` undoes an earlier match (the patterns are applied in order).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from keyark.errors import UsageError

__all__ = ["PatternSet", "read_pattern_files"]

_DOUBLE = "**"


class _BadPatternError(ValueError):
    """A component is not valid ``filepath.Match`` syntax."""


def _class_char(part: str, i: int) -> tuple[str, int]:
    """One (possibly escaped) character inside ``[...]`` and the index after it."""
    if i >= len(part) or part[i] in "-]":
        raise _BadPatternError("malformed character class")
    if part[i] == "\\":
        i += 1
        if i >= len(part):
            raise _BadPatternError("trailing backslash")
    return part[i], i + 1


def _char_class(part: str, i: int) -> tuple[str, int]:
    """The regex of the class starting after ``[`` at ``i`` and the index after ``]``."""
    negate = i < len(part) and part[i] == "^"
    if negate:
        i += 1
    ranges: list[str] = []
    while True:
        if i < len(part) and part[i] == "]" and ranges:
            i += 1
            break
        low, i = _class_char(part, i)
        high = low
        if i < len(part) and part[i] == "-":
            high, i = _class_char(part, i + 1)
            if high < low:
                raise _BadPatternError("character range out of order")
        ranges.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
    return "[" + ("^" if negate else "") + "".join(ranges) + "]", i


def _component_regex(part: str) -> re.Pattern[str]:
    """Compile one component of Go ``filepath.Match`` syntax (raises on bad syntax)."""
    out: list[str] = []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out.append(".*")
            i += 1
        elif char == "?":
            out.append(".")
            i += 1
        elif char == "\\":
            if i + 1 >= len(part):
                raise _BadPatternError("trailing backslash")
            out.append(re.escape(part[i + 1]))
            i += 2
        elif char == "[":
            regex, i = _char_class(part, i + 1)
            out.append(regex)
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True)
class _Component:
    """One pattern component: ``**``, a literal name, or a compiled wildcard."""

    text: str
    regex: re.Pattern[str] | None

    @classmethod
    def parse(cls, text: str) -> _Component:
        if text == _DOUBLE or not any(c in text for c in "\\[]*?"):
            return cls(text, None)
        return cls(text, _component_regex(text))

    @property
    def double(self) -> bool:
        return self.regex is None and self.text == _DOUBLE

    def matches(self, name: str) -> bool:
        if self.regex is None:
            return self.text == name
        return self.regex.fullmatch(name) is not None


@dataclass(frozen=True)
class _Pattern:
    """One parsed pattern: its components, whether anchored at ``/``, negated."""

    original: str
    parts: tuple[_Component, ...]
    anchored: bool
    negated: bool

    @classmethod
    def parse(cls, original: str, *, lower: bool) -> _Pattern | None:
        text = original.lower() if lower else original
        negated = text.startswith("!")
        if negated:
            text = text[1:]
        if not text:
            return None
        anchored = text.startswith("/")
        cleaned = posixpath.normpath(text).lstrip("/")
        names = [] if cleaned in ("", ".") else cleaned.split("/")
        try:
            parts = tuple(_Component.parse(name) for name in names)
        except _BadPatternError as error:
            raise UsageError(f"invalid pattern {original!r}: {error}") from None
        return cls(original, parts, anchored, negated)

    def matches(self, names: Sequence[str]) -> bool:
        """True when the pattern matches the path or one of its parent directories."""
        starts = [0] if self.anchored else range(len(names) + 1)
        return any(_prefix_match(self.parts, 0, names, start) for start in starts)

    def may_match_below(self, names: Sequence[str]) -> bool:
        """restic's ``childMatch``: could an entry below this directory match."""
        if not self.anchored:
            return True
        limit = len(names)
        for index, part in enumerate(self.parts):
            if part.double:
                limit = min(limit, index)
                break
        prefix = self.parts[: min(limit, len(self.parts))]
        return all(p.matches(n) for p, n in zip(prefix, names[:limit], strict=False))


def _prefix_match(parts: Sequence[_Component], i: int, names: Sequence[str], j: int) -> bool:
    """Do ``parts[i:]`` match ``names[j:k]`` for some ``k`` (the rest lies below)?"""
    while i < len(parts):
        part = parts[i]
        if part.double:
            return any(_prefix_match(parts, i + 1, names, k) for k in range(j, len(names) + 1))
        if j >= len(names) or not part.matches(names[j]):
            return False
        i += 1
        j += 1
    return True


def _names(path: str) -> list[str]:
    return [name for name in path.split("/") if name]


def _evaluate(patterns: Sequence[_Pattern], names: Sequence[str], *, below: bool) -> bool:
    """restic's ``list``: later ``!`` patterns undo earlier matches."""
    result = False
    for pattern in patterns:
        if pattern.negated:
            result = result and not pattern.matches(names)
        elif not result:
            result = pattern.may_match_below(names) if below else pattern.matches(names)
    return result


class PatternSet:
    """restic's filter rules: ``*`` within one component, ``**`` across, leading ``/``
    anchors, a relative pattern matches at any depth, ``!pattern`` re-includes.

    ``insensitive`` patterns match without regard to case (restic's ``--iexclude``).
    """

    def __init__(self, patterns: Sequence[str] = (), *, insensitive: Sequence[str] = ()) -> None:
        self.patterns = tuple(p for p in patterns if p)
        self.insensitive = tuple(p for p in insensitive if p)
        self._exact = _parse_all(self.patterns, lower=False)
        self._folded = _parse_all(self.insensitive, lower=True)

    def __bool__(self) -> bool:
        return bool(self._exact or self._folded)

    def __repr__(self) -> str:
        return f"PatternSet({list(self.patterns)!r}, insensitive={list(self.insensitive)!r})"

    def matches(self, path: str) -> bool:
        """True when a pattern matches ``path`` (absolute, ``/``-separated) or a parent of it."""
        return _evaluate(self._exact, _names(path), below=False) or _evaluate(
            self._folded, _names(path.lower()), below=False
        )

    def may_match_below(self, dir_path: str) -> bool:
        """Could an entry below the directory ``dir_path`` match (restic's ``childMatch``)."""
        return _evaluate(self._exact, _names(dir_path), below=True) or _evaluate(
            self._folded, _names(dir_path.lower()), below=True
        )


def _parse_all(patterns: Sequence[str], *, lower: bool) -> tuple[_Pattern, ...]:
    parsed = (_Pattern.parse(p, lower=lower) for p in patterns)
    return tuple(p for p in parsed if p is not None)


_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+)|(\$))")


def _expand(line: str) -> str:
    """restic expands ``$VAR`` and ``${VAR}`` in pattern files; ``$$`` is a ``$``."""

    def value(match: re.Match[str]) -> str:
        if match.group(3):
            return "$"
        return os.environ.get(match.group(1) or match.group(2) or "", "")

    return _VARIABLE.sub(value, line)


def read_pattern_files(paths: Sequence[str]) -> list[str]:
    """Patterns from files: one a line, blank and ``#`` lines skipped, ``$VAR`` expanded.

    Raises :class:`UsageError` naming a file that cannot be read.
    """
    patterns: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            reason = error.strerror or str(error)
            raise UsageError(f"cannot read pattern file {path}: {reason}") from None
        for raw in text.splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                patterns.append(_expand(line))
    return patterns
