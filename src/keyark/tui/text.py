"""Terminal-safe text for the screens: names escaped, never read as markup."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from keyark.terminal_text import printable


def cell(value: object, style: str = "") -> Text:
    """A table cell: :func:`~keyark.terminal_text.printable` text, never interpreted as markup."""
    return Text(printable(value), style=style)


def size_text(size: int) -> str:
    """``1.5 KiB``-style sizes."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def time_text(moment: datetime) -> str:
    """Local time to the minute."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


__all__ = ["cell", "size_text", "time_text"]
