"""Terminal-safe text for the screens: names escaped, never read as markup."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from rich.text import Text


def safe(value: object) -> str:
    """``value`` with control characters, bidirectional overrides and undecodable bytes of
    a file name shown as ``\\xNN``/``\\uNNNN`` (a name cannot move the cursor or hide text)."""
    out: list[str] = []
    for char in str(value):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char) in {"Cc", "Cf", "Cs"}:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def cell(value: object, style: str = "") -> Text:
    """A table cell: :func:`safe` text, never interpreted as markup."""
    return Text(safe(value), style=style)


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


__all__ = ["cell", "safe", "size_text", "time_text"]
