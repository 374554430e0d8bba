"""Typed field validators for every parser of stored (possibly hostile) objects.

Anything read from storage, or written by an agent, may hold values of the wrong type or
range. Parsers decode bytes with :func:`unpack_msgpack` / :func:`load_json`, then read each
field through these validators, so a bad object raises :class:`~keyark.errors.FormatError`
with one line naming the object and field, never ``TypeError`` or ``OverflowError``.

Two styles, same checks:

- functions: ``require_int(value, "tree 1a2b3c4d field 'mode'", 0, 0o7777)``; the ``name``
  argument is the full description used in the message (object and field);
- :class:`Fields`, bound to one decoded mapping and the object's name:
  ``fields = Fields(document, "snapshot 1a2b3c4d")`` then ``fields.get_int("time", 0)``;
  a missing key raises unless a ``default`` is given.

Messages name the expected type/range and the type found, never the value (it may be secret).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack

from keyark.errors import FormatError, Hint

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
ID_LENGTH = 32

_MISSING: Any = object()


def _kind(value: object) -> str:
    """Name the type of ``value`` for a message, without revealing the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" between {lo} and {hi}"
    if lo is not None:
        return f" of at least {lo}"
    if hi is not None:
        return f" of at most {hi}"
    return ""


def malformed_object(message: str) -> FormatError:
    """The :class:`FormatError` of a malformed stored object (hint: a check lists them)."""
    return FormatError(message, hint=Hint.CHECK)


def malformed(name: str, expected: str, value: object) -> FormatError:
    """Build the FormatError for ``name`` holding ``value`` where ``expected`` was needed."""
    return malformed_object(
        f"{name} must be {expected}, not {_kind(value)}: the object is malformed"
    )


def require_int(value: object, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) within ``[lo, hi]``; else FormatError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise malformed(name, "an integer" + _range(lo, hi), value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise malformed_object(
            f"{name} must be an integer{_range(lo, hi)}, not one out of that range: "
            "the object is malformed"
        )
    return value


def require_float(
    value: object, name: str, lo: float | None = None, hi: float | None = None
) -> float:
    """Return ``value`` as a finite float within ``[lo, hi]`` (ints accepted); else FormatError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(name, "a number" + _range(lo, hi), value)
    try:
        number = float(value)
    except OverflowError:
        raise malformed(name, "a number" + _range(lo, hi), value) from None
    if not math.isfinite(number):
        raise malformed(name, "a finite number" + _range(lo, hi), value)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise malformed(name, "a number" + _range(lo, hi), value)
    return number


def require_bool(value: object, name: str) -> bool:
    """Return ``value`` if it is a bool; else FormatError."""
    if not isinstance(value, bool):
        raise malformed(name, "a boolean", value)
    return value


def require_str(
    value: object,
    name: str,
    *,
    max_len: int | None = None,
    min_len: int = 0,
    allow_nul: bool = False,
) -> str:
    """Return ``value`` if it is a str of ``min_len..max_len`` characters; else FormatError.

    NUL characters are refused unless ``allow_nul``.
    """
    if not isinstance(value, str):
        raise malformed(name, "a string", value)
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        limit = f"of {min_len} to {max_len} characters" if max_len is not None else "non-empty"
        raise malformed_object(f"{name} must be a string {limit}: the object is malformed")
    if not allow_nul and "\0" in value:
        raise malformed_object(f"{name} contains a NUL character: the object is malformed")
    return value


def require_bytes(
    value: object,
    name: str,
    length: int | None = None,
    *,
    max_len: int | None = None,
) -> bytes:
    """Return ``value`` as bytes, exactly ``length`` long if given, at most ``max_len``."""
    if not isinstance(value, bytes | bytearray):
        raise malformed(name, "bytes", value)
    if length is not None and len(value) != length:
        raise malformed_object(f"{name} must be {length} bytes long: the object is malformed")
    if max_len is not None and len(value) > max_len:
        raise malformed_object(
            f"{name} must be at most {max_len} bytes long: the object is malformed"
        )
    return bytes(value)


def require_id(value: object, name: str) -> bytes:
    """Return ``value`` if it is a 32-byte id (blob, tree or object id); else FormatError."""
    return require_bytes(value, name, ID_LENGTH)


def require_hex(value: object, name: str, length: int | None = None) -> str:
    """Return ``value`` if it is a lowercase hex string (of ``length`` bytes when given)."""
    text = require_str(value, name)
    valid = len(text) % 2 == 0 and all(c in "0123456789abcdef" for c in text)
    if not valid or (length is not None and len(text) != 2 * length):
        size = f" of {length} bytes" if length is not None else ""
        raise malformed_object(f"{name} must be lowercase hex{size}: the object is malformed")
    return text


def require_list(value: object, name: str, *, max_items: int | None = None) -> list[Any]:
    """Return ``value`` if it is a list (or tuple) of at most ``max_items``; else FormatError."""
    if not isinstance(value, list | tuple):
        raise malformed(name, "a list", value)
    if max_items is not None and len(value) > max_items:
        raise malformed_object(f"{name} has more than {max_items} items: the object is malformed")
    return list(value)


def require_list_of(
    value: object,
    name: str,
    item: Callable[[object, str], T],
    *,
    max_items: int | None = None,
) -> list[T]:
    """Return a list whose every element passed ``item(element, name)``; else FormatError.

    ``item`` is one of these validators, e.g. ``require_id``, or a ``functools.partial``.
    """
    return [
        item(element, f"{name}[{n}]")
        for n, element in enumerate(require_list(value, name, max_items=max_items))
    ]


def require_map(value: object, name: str, *, max_items: int | None = None) -> dict[Any, Any]:
    """Return ``value`` if it is a map (dict) of at most ``max_items`` entries; else FormatError."""
    if not isinstance(value, dict):
        raise malformed(name, "a map", value)
    if max_items is not None and len(value) > max_items:
        raise malformed_object(f"{name} has more than {max_items} entries: the object is malformed")
    return value


def require_map_of(
    value: object,
    name: str,
    key: Callable[[object, str], K],
    val: Callable[[object, str], V],
    *,
    max_items: int | None = None,
) -> dict[K, V]:
    """Return a dict whose keys passed ``key`` and values passed ``val``; else FormatError."""
    result: dict[K, V] = {}
    for raw_key, raw_value in require_map(value, name, max_items=max_items).items():
        checked = key(raw_key, f"{name} key")
        result[checked] = val(
            raw_value, f"{name}[{checked!r}]" if isinstance(checked, str) else f"{name} value"
        )
    return result


def unpack_msgpack(data: object, what: str) -> Any:
    """Decode msgpack ``data`` (of the object named ``what``); any decoding failure is FormatError.

    Map keys may be of any type: validate them with :func:`require_map_of` or :class:`Fields`.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise malformed(f"{what} payload", "bytes", data)
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as error:
        raise FormatError(f"{what} is not valid msgpack ({type(error).__name__})") from None


def _no_constant(token: str) -> Any:
    raise ValueError(f"non-finite number {token}")


def load_json(data: object, what: str) -> Any:
    """Decode JSON ``data`` (of the object named ``what``); any failure is FormatError.

    NaN and Infinity are refused; deep nesting and huge integers give FormatError too.
    """
    if not isinstance(data, bytes | bytearray | str):
        raise malformed(f"{what} payload", "bytes", data)
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, TypeError, RecursionError) as error:
        raise FormatError(f"{what} is not valid JSON ({type(error).__name__})") from None


class Fields:
    """Typed access to the fields of one decoded mapping, named ``what`` in errors.

    Every ``get_*`` takes the key, the checks of the matching ``require_*`` function and an
    optional ``default`` returned when the key is absent (without one, absence is an error).
    ``None`` is a value like any other: it fails every check except :meth:`get_optional`.
    """

    def __init__(self, document: object, what: str, *, max_items: int | None = None) -> None:
        self.what = what
        self.data: dict[Any, Any] = require_map(document, what, max_items=max_items)

    def name(self, key: str) -> str:
        """The description of field ``key`` used in messages."""
        return f"{self.what} field {key!r}"

    def has(self, key: str) -> bool:
        """Whether the mapping holds ``key``."""
        return key in self.data

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The raw value of ``key`` (unchecked); FormatError if absent and no default."""
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise malformed_object(f"{self.what} has no field {key!r}: the object is malformed")
        return default

    def unknown(self, known: set[str] | frozenset[str]) -> list[Any]:
        """Keys of the mapping outside ``known`` (for parsers that refuse extra fields)."""
        return [key for key in self.data if key not in known]

    def get_int(
        self, key: str, lo: int | None = None, hi: int | None = None, default: Any = _MISSING
    ) -> int:
        """Field ``key`` as by :func:`require_int`."""
        value = self.data.get(key, _MISSING)
        if type(value) is int and (lo is None or lo <= value) and (hi is None or value <= hi):
            return value  # the fast path: a valid value, no message built
        if value is _MISSING and default is not _MISSING:
            return int(default)
        return require_int(self.get(key), self.name(key), lo, hi)

    def get_float(
        self, key: str, lo: float | None = None, hi: float | None = None, default: Any = _MISSING
    ) -> float:
        """Field ``key`` as by :func:`require_float`."""
        if default is not _MISSING and key not in self.data:
            return float(default)
        return require_float(self.get(key), self.name(key), lo, hi)

    def get_bool(self, key: str, default: Any = _MISSING) -> bool:
        """Field ``key`` as by :func:`require_bool`."""
        if default is not _MISSING and key not in self.data:
            return bool(default)
        return require_bool(self.get(key), self.name(key))

    def get_str(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        max_len: int | None = None,
        min_len: int = 0,
        allow_nul: bool = False,
    ) -> str:
        """Field ``key`` as by :func:`require_str`."""
        value = self.data.get(key, _MISSING)
        if (
            type(value) is str
            and min_len <= len(value)
            and (max_len is None or len(value) <= max_len)
            and (allow_nul or "\0" not in value)
        ):
            return value
        if value is _MISSING and default is not _MISSING:
            return str(default)
        return require_str(
            self.get(key), self.name(key), max_len=max_len, min_len=min_len, allow_nul=allow_nul
        )

    def get_bytes(
        self,
        key: str,
        length: int | None = None,
        default: Any = _MISSING,
        *,
        max_len: int | None = None,
    ) -> bytes:
        """Field ``key`` as by :func:`require_bytes`."""
        value = self.data.get(key, _MISSING)
        if (
            type(value) is bytes
            and (length is None or len(value) == length)
            and (max_len is None or len(value) <= max_len)
        ):
            return value
        if value is _MISSING and default is not _MISSING:
            return bytes(default)
        return require_bytes(self.get(key), self.name(key), length, max_len=max_len)

    def get_id(self, key: str) -> bytes:
        """Field ``key`` as a 32-byte id (required)."""
        return require_id(self.get(key), self.name(key))

    def get_list(
        self, key: str, default: Any = _MISSING, *, max_items: int | None = None
    ) -> list[Any]:
        """Field ``key`` as by :func:`require_list`."""
        if default is not _MISSING and key not in self.data:
            return list(default)
        return require_list(self.get(key), self.name(key), max_items=max_items)

    def get_list_of(
        self,
        key: str,
        item: Callable[[object, str], T],
        default: Any = _MISSING,
        *,
        max_items: int | None = None,
    ) -> list[T]:
        """Field ``key`` as by :func:`require_list_of`."""
        if default is not _MISSING and key not in self.data:
            return list(default)
        return require_list_of(self.get(key), self.name(key), item, max_items=max_items)

    def get_map(
        self, key: str, default: Any = _MISSING, *, max_items: int | None = None
    ) -> dict[Any, Any]:
        """Field ``key`` as by :func:`require_map`."""
        if default is not _MISSING and key not in self.data:
            return dict(default)
        return require_map(self.get(key), self.name(key), max_items=max_items)

    def get_optional(self, key: str, check: Callable[[object, str], T]) -> T | None:
        """Field ``key`` passed through ``check``, or None when absent or null."""
        value = self.data.get(key)
        if value is None:
            return None
        return check(value, self.name(key))

    def fields(self, key: str, default: Any = _MISSING) -> Fields:
        """Field ``key`` (a nested map) as a :class:`Fields` named after this one."""
        if default is not _MISSING and key not in self.data:
            return Fields(dict(default), self.name(key))
        return Fields(self.get(key), self.name(key))


def checker(validate: Callable[..., T], *args: Any, **kwargs: Any) -> Callable[[object, str], T]:
    """A one-argument-plus-name validator, e.g. ``checker(require_str, max_len=255)``.

    For :func:`require_list_of`, :func:`require_map_of` and :meth:`Fields.get_optional`.
    """

    def check(value: object, name: str) -> T:
        return validate(value, name, *args, **kwargs)

    return check
