"""The dashboard's Jinja2 environment: the package's templates and the filters pages use
to show times, durations, sizes and levels the same way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.templating import Jinja2Templates

#: The templates and static files shipped in the package (``package-data``).
TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def moment(value: datetime | str | None) -> datetime | None:
    """A datetime from a datetime or ISO 8601 text (None stays None)."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def show_time(value: datetime | str | None) -> str:
    """``2026-12-02 05:34 UTC`` (empty for None)."""
    when = moment(value)
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def show_seconds(value: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``1 h 02 min`` (empty for None)."""
    if value is None:
        return ""
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    whole = int(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole // 60 % 60:02d} min"


def show_size(value: float | None) -> str:
    """``512 B``, ``3.1 KiB``, ``2.0 GiB`` (empty for None)."""
    if value is None:
        return ""
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover (the loop returns)


def level_class(level: str | None) -> str:
    """The CSS class of a level or status (``ok``, ``warning``, ``critical``, ``unknown``)."""
    text = (level or "unknown").lower()
    if text in ("ok", "success", "succeeded", "pass", "current"):
        return "ok"
    if text in ("info", "running", "skipped", "n/a", "missed"):
        return "info"
    if text in ("warning", "warn", "partial", "retired"):
        return "warning"
    if text in ("critical", "failed", "fail", "error", "cancelled", "interrupted"):
        return "critical"
    return "unknown"


def environment() -> jinja2.Environment:
    """The autoescaping environment over the package's templates, with the filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters: dict[str, Any] = {
        "when": show_time,
        "seconds": show_seconds,
        "size": show_size,
        "level": level_class,
    }
    env.filters.update(filters)
    return env


def templates() -> Jinja2Templates:
    """The page renderer over :func:`environment`."""
    return Jinja2Templates(env=environment())


__all__ = [
    "STATIC_DIR",
    "TEMPLATE_DIR",
    "environment",
    "level_class",
    "moment",
    "show_seconds",
    "show_size",
    "show_time",
    "templates",
]
