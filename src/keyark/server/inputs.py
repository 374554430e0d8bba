"""The request fields of an operation, generated from its options dataclass.

Each field of the options type whose type a request can carry (text, numbers, flags,
dates, lists of text, enums, and the optional forms of those) becomes a request field
of the same name, with the same default. Three option types a request spells as
several fields: a snapshot filter (``hosts``, ``tags``, ``paths``), a retention policy
(``keep_last`` ... ``keep_within``, ``keep_tags``, ``max_snapshots``) and an unused-space
limit (``max_unused``: ``5%``, ``100M``, ``unlimited``). Fields the server fills
(the config document, the state directory, output streams) are never request fields.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from pydantic import Field

from keyark import ops
from keyark.config.document import KeyarkConfig
from keyark.errors import UsageError

#: Text without NUL characters (no path or name may hold one).
Text = Annotated[str, Field(pattern=r"^[^\x00]*$", max_length=4096)]
Count = Annotated[int, Field(ge=0, le=2**31)]
Number = Annotated[float, Field(ge=0, le=1e12)]

#: Fields the server fills (or leaves at their defaults); never taken from a request.
SERVER_FIELDS = frozenset(
    {"config", "state_dir", "textfile_dir", "output", "zone", "prune_options", "scheduled"}
)


@dataclass(frozen=True)
class RequestField:
    """One request field: its type (for validation and the OpenAPI schema) and default."""

    annotation: Any
    #: ``dataclasses.MISSING``: the field is required.
    default: Any


@dataclass(frozen=True)
class Expansion:
    """An option field a request spells as several fields, and how to build it back."""

    fields: dict[str, RequestField]
    build: Callable[[dict[str, Any]], object]


def _filter() -> Expansion:
    names = ("hosts", "tags", "paths")
    return Expansion(
        {name: RequestField(list[Text], []) for name in names},
        lambda values: ops.SnapshotFilter(*(list(values.get(name) or ()) for name in names)),
    )


_KEEP_COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def _policy() -> Expansion:
    fields = {f"keep_{name}": RequestField(Count, 0) for name in _KEEP_COUNTS}
    fields["keep_within"] = RequestField(Text | None, None)
    fields["keep_tags"] = RequestField(list[Text], [])
    fields["max_snapshots"] = RequestField(Count | None, None)

    def build(values: dict[str, Any]) -> object:
        within = values.get("keep_within")
        return ops.RetentionPolicy(
            **{name: values.get(f"keep_{name}", 0) for name in _KEEP_COUNTS},
            within=None if within is None else ops.parse_calendar_duration(within),
            tags=tuple(values.get("keep_tags") or ()),
            max_snapshots=values.get("max_snapshots"),
        )

    return Expansion(fields, build)


def _unused() -> Expansion:
    def build(values: dict[str, Any]) -> object:
        text = values.get("max_unused")
        return ops.UnusedLimit() if text is None else ops.parse_unused_limit(text)

    return Expansion({"max_unused": RequestField(Text | None, None)}, build)


def _expansions() -> dict[type, Callable[[], Expansion]]:
    return {ops.SnapshotFilter: _filter, ops.RetentionPolicy: _policy, ops.UnusedLimit: _unused}


@dataclass(frozen=True)
class OperationInput:
    """The request fields of one options type, and how to build the options from them."""

    options: type
    #: Request field name -> field (plain fields and expanded ones).
    fields: dict[str, RequestField]
    #: Option field name -> its expansion.
    expanded: dict[str, Expansion]
    #: Option fields taken as they are.
    plain: tuple[str, ...]

    def build(self, values: dict[str, Any], fixed: dict[str, Any]) -> object:
        """The options from request ``values`` and the server's ``fixed`` values; input
        the options type refuses is a :class:`~keyark.errors.UsageError` (422)."""
        kwargs: dict[str, Any] = dict(fixed)
        for name in self.plain:
            if name in values and name not in fixed:
                kwargs[name] = values[name]
        try:
            for name, expansion in self.expanded.items():
                kwargs[name] = expansion.build(values)
            return self.options(**kwargs)
        except UsageError:
            raise
        except (ValueError, TypeError) as error:
            raise UsageError(str(error)) from None


def operation_input(options: type, hidden: frozenset[str] = frozenset()) -> OperationInput:
    """The request fields of ``options`` (a dataclass), leaving out ``hidden`` and
    :data:`SERVER_FIELDS`."""
    hints = _type_hints(options)
    expansions = _expansions()
    fields: dict[str, RequestField] = {}
    expanded: dict[str, Expansion] = {}
    plain: list[str] = []
    for item in dataclasses.fields(options):
        if item.name in SERVER_FIELDS or item.name in hidden or item.metadata.get("secret"):
            continue
        kind = hints.get(item.name)
        if kind in expansions:
            expansion = expansions[kind]()
            expanded[item.name] = expansion
            fields.update(expansion.fields)
            continue
        annotation = request_type(kind)
        if annotation is None:
            continue  # a type no request carries: the option keeps its default
        plain.append(item.name)
        fields[item.name] = RequestField(annotation, _default(item))
    return OperationInput(options, fields, expanded, tuple(plain))


def _default(item: dataclasses.Field[Any]) -> Any:
    if item.default is not dataclasses.MISSING:
        value = item.default
    elif item.default_factory is not dataclasses.MISSING:
        value = item.default_factory()
    else:
        return dataclasses.MISSING
    return list(value) if isinstance(value, tuple) else value


def request_type(kind: Any) -> Any:
    """The request annotation of option type ``kind``; None when a request cannot carry it."""
    if kind is str:
        return Text
    if kind is bool:
        return bool
    if kind is int:
        return Count
    if kind is float:
        return Number
    if kind is datetime:
        return datetime
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind
    origin = typing.get_origin(kind)
    arguments = typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        rest = [argument for argument in arguments if argument is not type(None)]
        if len(rest) == 1 and len(arguments) == 2:
            inner = request_type(rest[0])
            return None if inner is None else inner | None
        return None
    if origin in (list, tuple, Sequence) and arguments and arguments[0] is str:
        return list[Text]
    if origin is typing.Literal and all(isinstance(value, str) for value in arguments):
        return kind
    return None


def _type_hints(options: type) -> dict[str, Any]:
    """Each field's type, evaluated one by one (a name only imported for type checking
    leaves that field's type unknown: such fields are not request fields)."""
    module = sys.modules.get(options.__module__)
    namespace: dict[str, Any] = {
        "KeyarkConfig": KeyarkConfig,
        "Path": Path,
        "BinaryIO": BinaryIO,
        "datetime": datetime,
        "tzinfo": tzinfo,
        "Sequence": Sequence,
        **(vars(module) if module is not None else {}),
    }
    hints: dict[str, Any] = {}
    for item in dataclasses.fields(options):
        kind = item.type
        if isinstance(kind, str):
            try:
                kind = eval(kind, namespace)  # noqa: S307 (the dataclass's own annotation)
            except (NameError, AttributeError, SyntaxError, TypeError):
                continue
        hints[item.name] = kind
    return hints


__all__ = ["SERVER_FIELDS", "OperationInput", "RequestField", "operation_input", "request_type"]
