"""Field types of the config file: durations, bandwidth rates, schedules, keep-within
spans and compression names, each parsed on validation with a message that says what
is wrong and shows a valid form (the loader adds the path and line)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from keyark.config.schedule import Schedule, parse_schedule
from keyark.errors import UsageError


def _duration(value: Any) -> Any:
    """``90s``, ``10m``, ``2h``, ``1d``, ``1h30m`` or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        from keyark.units import parse_seconds

        try:
            return timedelta(seconds=parse_seconds(value, "duration"))
        except UsageError as error:
            raise ValueError(str(error)) from None
    raise ValueError("a duration is a text such as 90s, 10m, 2h, 1d")


def show_duration(value: timedelta) -> str:
    """A duration as the config writes it (``2h``, ``90s``, ``1d``)."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


#: A clock duration in the config (``30s``, ``10m``, ``2h``, ``1d``).
Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(show_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$|^0$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 30s, 10m, 2h, 1d, 1h30m (or a number of seconds)",
        }
    ),
]


def _rate(value: Any) -> Any:
    """``20MiB`` (per second) or a number of KiB/s -> KiB/s as a float."""
    if isinstance(value, str):
        from keyark.units import parse_size

        try:
            return parse_size(value, "bandwidth limit") / 1024
        except UsageError as error:
            raise ValueError(str(error)) from None
    return value


#: A bandwidth limit: ``20MiB`` (per second) or a number of KiB/s.
Rate = Annotated[
    float,
    BeforeValidator(_rate),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number", "exclusiveMinimum": 0}],
            "description": "per second: 20MiB, 500KiB (or a number of KiB/s)",
        }
    ),
]


def _schedule(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, str):
        raise ValueError("a schedule is a text: 5-field cron, @daily, or 'every 6h'")
    return parse_schedule(value)


#: A schedule text (``0 2 * * *``, ``@daily``, ``every 6h``), parsed.
ScheduleText = Annotated[
    Schedule,
    BeforeValidator(_schedule),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"type": "string", "description": "5-field cron, @hourly/@daily/..., or 'every 6h'"}
    ),
]


def _calendar_span(value: str) -> str:
    from keyark.units import parse_calendar_duration

    try:
        parse_calendar_duration(value, "keep_within")
    except UsageError as error:
        raise ValueError(str(error)) from None
    return value


#: A calendar span for ``keep_within`` (``30d``, ``1y6m``, ``7d12h``), checked, kept as text.
CalendarSpan = Annotated[str, AfterValidator(_calendar_span)]


def _compression(value: str) -> str:
    from keyark.compress import parse_compression

    try:
        parse_compression(value)
    except UsageError as error:
        raise ValueError(str(error)) from None
    return value


#: A compression name (``zstd:9``, ``auto``, ``none``), checked, kept as text.
CompressionText = Annotated[str, AfterValidator(_compression)]


def _verify(value: str) -> str:
    from keyark.config.verify import parse_verify

    parse_verify(value)
    return value


#: ``none``, ``full`` or ``subset N%``: what of a run's new data is read back.
VerifyText = Annotated[
    str,
    AfterValidator(_verify),
    WithJsonSchema({"type": "string", "description": "none, full or 'subset N%'"}),
]
