"""Text safe to print on a terminal: every face (CLI, terminal browser) escapes with it."""

from __future__ import annotations

_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A)) | {0x200E, 0x200F}


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character escaped (``\\x1b`` for ESC).

    C0 and C1 controls, DEL and bidirectional overrides become ``\\xNN`` / ``\\uNNNN``;
    a byte of a file name that is not UTF-8 (a surrogate escape) becomes ``\\xNN``,
    so a name an agent or storage chose cannot move the cursor, hide text (ESC[8m) or
    recolour a ``[FLAGGED]`` marker. With ``keep_newlines``, ``\\n`` stays a line break.
    Idempotent: escaped text has no controls left.
    """
    value = str(text)
    if value.isprintable():
        return value
    out: list[str] = []
    for char in value:
        code = ord(char)
        if char == "\n" and keep_newlines:
            out.append(char)
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code in _BIDI or (not char.isprintable() and char != " "):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


__all__ = ["printable"]
