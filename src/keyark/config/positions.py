"""Parse a config file's text (YAML, JSON or TOML) and keep where each key is.

:func:`parse_document` returns the data and a :class:`LineMap` (location -> line,
1-based), or raises :class:`DocumentSyntaxError` with the line of a syntax error.

- YAML: PyYAML's composed nodes carry marks: every key's line is exact.
- JSON: the standard decoder checks the syntax; a small walker over the (valid) text
  records each key's line; array items get the line they start on.
- TOML: ``tomllib`` keeps no positions, so the text is read line by line for table
  headers (``[a.b]``, ``[[a.b]]`` with their index) and ``key = value`` lines (dotted
  keys included); a key inside an inline table or a multi-line array gets the line of
  the key that holds it.

A location without a line of its own gets the line of the nearest enclosing one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

#: A location: keys (as text) and list indices.
Location = tuple[str | int, ...]


class DocumentSyntaxError(ValueError):
    """The text is not valid YAML, JSON or TOML; ``line`` is where (None: unknown)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class LineMap:
    """Location -> line (1-based) of the key or item that starts there."""

    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int | None:
        """The line of ``location``, or of its nearest enclosing location that has one."""
        path = tuple(str(step) if isinstance(step, str) else step for step in location)
        while path:
            found = self.lines.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.lines.get(())


def parse_document(text: str, kind: str) -> tuple[Any, LineMap]:
    """``text`` parsed as ``kind`` (``yaml``, ``json`` or ``toml``) with its line map."""
    if kind == "json":
        return _parse_json(text)
    if kind == "toml":
        return _parse_toml(text)
    return _parse_yaml(text)


# --- YAML ---------------------------------------------------------------------------


def _parse_yaml(text: str) -> tuple[Any, LineMap]:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = None if mark is None else mark.line + 1
        problem = error.problem or "not valid YAML"
        context = f" ({error.context})" if error.context else ""
        raise DocumentSyntaxError(f"{problem}{context}", line) from None
    except yaml.YAMLError as error:
        raise DocumentSyntaxError(str(error), None) from None
    finally:
        loader.dispose()
    lines = LineMap()
    if node is not None:
        lines.lines[()] = node.start_mark.line + 1
        _yaml_lines(node, (), lines.lines)
    return data, lines


def _yaml_lines(node: Any, location: Location, lines: dict[Location, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            here = (*location, str(key_node.value))
            lines.setdefault(here, key_node.start_mark.line + 1)
            _yaml_lines(value_node, here, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*location, index)
            lines.setdefault(here, item.start_mark.line + 1)
            _yaml_lines(item, here, lines)


# --- JSON ---------------------------------------------------------------------------


def _parse_json(text: str) -> tuple[Any, LineMap]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DocumentSyntaxError(error.msg, error.lineno) from None
    lines = LineMap()
    walker = _JsonLines(text, lines.lines)
    start = walker.skip(0)
    lines.lines[()] = walker.line(start)
    walker.value(start, ())
    return data, lines


class _JsonLines:
    """Walks valid JSON text, recording the line of each key and array item."""

    _WHITESPACE = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str, lines: dict[Location, int]) -> None:
        self.text = text
        self.lines = lines
        self.decoder = json.JSONDecoder()

    def line(self, index: int) -> int:
        return self.text.count("\n", 0, index) + 1

    def skip(self, index: int) -> int:
        match = self._WHITESPACE.match(self.text, index)
        return index if match is None else match.end()

    def value(self, index: int, location: Location) -> int:
        """Walk the value at ``index``; return the index after it."""
        char = self.text[index]
        if char == "{":
            return self._object(index, location)
        if char == "[":
            return self._array(index, location)
        _, end = self.decoder.raw_decode(self.text, index)
        return end

    def _object(self, index: int, location: Location) -> int:
        index = self.skip(index + 1)
        if self.text[index] == "}":
            return index + 1
        while True:
            key, after = self.decoder.raw_decode(self.text, index)
            here = (*location, str(key))
            self.lines.setdefault(here, self.line(index))
            index = self.skip(self.skip(after) + 1)  # past ':'
            index = self.skip(self.value(index, here))
            if self.text[index] == "}":
                return index + 1
            index = self.skip(index + 1)  # past ','

    def _array(self, index: int, location: Location) -> int:
        index = self.skip(index + 1)
        if self.text[index] == "]":
            return index + 1
        position = 0
        while True:
            here = (*location, position)
            self.lines.setdefault(here, self.line(index))
            index = self.skip(self.value(index, here))
            if self.text[index] == "]":
                return index + 1
            index = self.skip(index + 1)
            position += 1


# --- TOML ---------------------------------------------------------------------------

_TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_TOML_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _parse_toml(text: str) -> tuple[Any, LineMap]:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _TOML_ERROR_LINE.search(message)
        line = int(match.group(1)) if match else None
        raise DocumentSyntaxError(_TOML_ERROR_LINE.sub("", message).strip(), line) from None
    return data, _toml_lines(text)


def _toml_keys(text: str) -> list[str]:
    return [part.strip("\"'") for part in _TOML_PART.findall(text)]


def _toml_lines(text: str) -> LineMap:
    lines = LineMap()
    lines.lines[()] = 1
    table: Location = ()
    counts: dict[Location, int] = {}
    depth = 0  # open brackets of a multi-line value: its lines hold no keys of the table
    for number, raw in enumerate(text.splitlines(), start=1):
        if depth > 0:
            depth += _bracket_balance(raw)
            continue
        header = _TOML_HEADER.match(raw)
        if header and not _TOML_KEY.match(raw):
            path: Location = tuple(_toml_keys(header.group(2)))
            if header.group(1) == "[[":
                index = counts.get(path, 0)
                counts[path] = index + 1
                lines.lines.setdefault(path, number)
                path = (*path, index)
            table = path
            lines.lines.setdefault(table, number)
            continue
        key = _TOML_KEY.match(raw)
        if key:
            here = (*table, *_toml_keys(key.group(1)))
            lines.lines.setdefault(here, number)
            depth = max(0, _bracket_balance(raw[key.end() :]))
    return lines


def _bracket_balance(text: str) -> int:
    """Opened minus closed brackets and braces outside strings and comments."""
    balance = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance
