"""Sizes, durations and limits typed on the command line."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from keyark.errors import UsageError
from keyark.units import (
    CalendarDuration,
    UnusedLimit,
    parse_calendar_duration,
    parse_seconds,
    parse_size,
    parse_unused_limit,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("2d", 172800.0),
        (" 10S ", 10.0),
    ],
)
def test_parse_seconds(text: str, seconds: float) -> None:
    assert parse_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "5x", "m5", "1h 30m", "-5s", "abc", "1e9999s", "5mm"])
def test_parse_seconds_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--retry-lock"):
        parse_seconds(text, "--retry-lock")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1y2m3d4h", CalendarDuration(1, 2, 3, 4)),
        ("7d", CalendarDuration(days=7)),
        ("6m", CalendarDuration(months=6)),
        ("12H", CalendarDuration(hours=12)),
        ("2y", CalendarDuration(years=2)),
    ],
)
def test_parse_calendar_duration(text: str, expected: CalendarDuration) -> None:
    assert parse_calendar_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "1w", "1d1d", "d", "1.5d", "-1d", "1y 2m", "forever"])
def test_parse_calendar_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--keep-within"):
        parse_calendar_duration(text, "--keep-within")


def test_calendar_duration_str() -> None:
    assert str(CalendarDuration(1, 0, 3, 0)) == "1y3d"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("500K", 500 * 1024),
        ("10MiB", 10 * 1024**2),
        ("1.5g", int(1.5 * 1024**3)),
        ("2 GB", 2 * 1024**3),
        ("1t", 1024**4),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1M", "12X", "M", "1..5M", "ten", "99999999999999P"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--max-repack-size"):
        parse_size(text, "--max-repack-size")


def test_unused_limit_forms() -> None:
    assert parse_unused_limit("5%") == UnusedLimit(percent=5.0)
    assert parse_unused_limit("0%").allowed(1000) == 0
    assert parse_unused_limit("100%").allowed(1000) == math.inf
    assert parse_unused_limit("unlimited").unlimited
    assert parse_unused_limit("100M") == UnusedLimit(percent=None, size=100 * 1024**2)
    # 50% unused of the total = as much unused as used.
    assert parse_unused_limit("50%").allowed(1000) == pytest.approx(1000)


@pytest.mark.parametrize("text", ["101%", "-1%", "x%", "%", "lots", ""])
def test_unused_limit_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--max-unused"):
        parse_unused_limit(text, "--max-unused")


@pytest.mark.parametrize(
    ("parse", "text", "name"),
    [
        (parse_seconds, "soon", "lock wait"),
        (parse_calendar_duration, "1w", "keep within"),
        (parse_size, "12X", "size"),
        (parse_unused_limit, "lots", "unused limit"),
    ],
)
def test_default_option_names_are_face_neutral(
    parse: Callable[[str], object], text: str, name: str
) -> None:
    """Without the face's option name the error names the value, not a CLI flag."""
    with pytest.raises(UsageError) as error:
        parse(text)
    message = str(error.value)
    assert message.startswith(f"{name} {text!r}:") and "--" not in message, message
