"""Parsing of the sizes, durations and limits users type (CLI flags, config files).

Three small grammars, all strict (a bad value is a :class:`UsageError` naming the
option and the expected form, never a guess). Each parser takes the ``option``
name the face calls the value by (the CLI passes its flag, e.g. ``--retry-lock``);
the default is a face-neutral description.

- lock waits are clock durations as in restic/Go:
  ``30s``, ``5m``, ``1h30m``, ``1.5h``, ``500ms``, ``2d`` (``m`` = minutes);
- retention windows (keep within) are calendar durations as in restic:
  ``1y2m3d4h`` (``m`` = months);
- sizes (the repack limit) are bytes with an optional binary unit:
  ``1024``, ``500K``, ``10MiB``, ``1.5g``; the unused-space limit also takes ``N%``
  or ``unlimited``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from keyark.errors import UsageError

_CLOCK_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_CLOCK_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_CALENDAR_PART = re.compile(r"(\d+)([ymdh])")


def parse_seconds(text: str, option: str = "lock wait") -> float:
    """A clock duration such as ``30s``, ``5m``, ``1h30m`` in seconds (``0`` is allowed)."""
    spec = text.strip().lower()
    if spec == "0":
        return 0.0
    total = 0.0
    position = 0
    for match in _CLOCK_PART.finditer(spec):
        if match.start() != position:
            break
        total += float(match.group(1)) * _CLOCK_UNITS[match.group(2)]
        position = match.end()
    if not spec or position != len(spec) or not math.isfinite(total):
        raise UsageError(
            f"{option} {text!r}: not a duration; use a number with a unit, e.g. 30s, 5m, 1h30m"
        )
    return total


@dataclass(frozen=True)
class CalendarDuration:
    """A keep-within window: years, months, days and hours."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.hours)

    def __str__(self) -> str:
        parts = [
            f"{value}{unit}"
            for value, unit in (
                (self.years, "y"),
                (self.months, "m"),
                (self.days, "d"),
                (self.hours, "h"),
            )
            if value
        ]
        return "".join(parts) or "0h"


def parse_calendar_duration(text: str, option: str = "keep within") -> CalendarDuration:
    """``1y2m3d4h`` (any subset, each unit at most once) as a :class:`CalendarDuration`."""
    spec = text.strip().lower()
    values: dict[str, int] = {}
    position = 0
    for match in _CALENDAR_PART.finditer(spec):
        unit = match.group(2)
        if match.start() != position or unit in values:
            break
        values[unit] = int(match.group(1))
        position = match.end()
    if not spec or position != len(spec):
        raise UsageError(
            f"{option} {text!r}: not a duration; use numbers with y, m, d, h, e.g. 1y6m or 7d12h"
        )
    duration = CalendarDuration(
        values.get("y", 0), values.get("m", 0), values.get("d", 0), values.get("h", 0)
    )
    if duration.is_zero():
        raise UsageError(f"{option} {text!r}: the duration must be longer than zero")
    return duration


def parse_size(text: str, option: str = "size") -> int:
    """Bytes from ``1024``, ``500K``, ``10MiB``, ``1.5g`` (binary units, as restic)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"{option} {text!r}: not a size; use a number with an optional unit, e.g. 500M, 2GiB"
        )
    number, unit = float(match.group(1)), match.group(2).lower()
    value = number * 1024 ** _SIZE_POWERS[unit]
    if not math.isfinite(value) or value >= 2**63:
        raise UsageError(f"{option} {text!r}: the size is too large")
    return int(value)


@dataclass(frozen=True)
class UnusedLimit:
    """How much unused space prune may leave: a percentage, a size, or unlimited."""

    percent: float | None = 5.0
    size: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.percent is None and self.size is None

    def allowed(self, used_bytes: int) -> float:
        """Unused bytes that may remain when ``used_bytes`` are in use."""
        if self.size is not None:
            return float(self.size)
        if self.percent is None or self.percent >= 100:
            return math.inf
        # restic: unused / (used + unused) <= p  <=>  unused <= used * p / (100 - p)
        return used_bytes * self.percent / (100 - self.percent)

    def __str__(self) -> str:
        if self.size is not None:
            return f"{self.size} bytes"
        if self.percent is None:
            return "unlimited"
        return f"{self.percent:g}%"


def parse_unused_limit(text: str, option: str = "unused limit") -> UnusedLimit:
    """``N%`` (0-100), a size such as ``100M``, or ``unlimited``."""
    spec = text.strip().lower()
    if spec == "unlimited":
        return UnusedLimit(percent=None, size=None)
    if spec.endswith("%"):
        try:
            percent = float(spec[:-1])
        except ValueError:
            percent = math.nan
        if not 0 <= percent <= 100:
            raise UsageError(
                f"{option} {text!r}: a percentage must be between 0% and 100%, e.g. 5%"
            )
        return UnusedLimit(percent=percent)
    try:
        return UnusedLimit(percent=None, size=parse_size(spec, option))
    except UsageError:
        raise UsageError(
            f"{option} {text!r}: use a percentage (5%), a size (100M) or 'unlimited'"
        ) from None


__all__ = [
    "CalendarDuration",
    "UnusedLimit",
    "parse_calendar_duration",
    "parse_seconds",
    "parse_size",
    "parse_unused_limit",
]
