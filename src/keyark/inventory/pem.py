"""PEM blocks and DER elements: the framing around key material.

:func:`pem_blocks` splits a text into its ``-----BEGIN X-----`` ... ``-----END X-----``
blocks (RFC 7468, with RFC 1421 headers such as ``Proc-Type``); the content of each is
then parsed by ``cryptography``. :func:`der_element` reads one DER tag-length header,
enough to cut a certificate off trailing data or to tell a PKCS#12 file by its shape.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

#: At most this many blocks are read from one file.
MAX_BLOCKS = 10_000

_BEGIN = b"-----BEGIN "
_END = b"-----END "
_DASHES = b"-----"


@dataclass(frozen=True)
class PemBlock:
    """One PEM block: its label, RFC 1421 headers and decoded body (DER bytes)."""

    label: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def encrypted(self) -> bool:
        """Whether the block carries OpenSSL's legacy ``Proc-Type: 4,ENCRYPTED``."""
        return "ENCRYPTED" in self.headers.get("Proc-Type", "").upper()


def pem_blocks(data: bytes) -> list[PemBlock]:
    """Every well-formed PEM block of ``data``; malformed blocks are skipped.

    BEGIN and END lines may carry text around them (a PEM value quoted in a ``.env``
    or YAML file); the lines between are the block's headers and base64 body. Lines
    end as :meth:`bytes.splitlines` ends them; the markers are found with
    :meth:`bytes.find`, so a body is never walked line by line in Python.
    """
    blocks: list[PemBlock] = []
    start = 0  # always the start of a line
    while True:
        begin = data.find(_BEGIN, start)
        if begin < 0:
            return blocks
        line_start = _line_start(data, start, begin)
        line_end, next_line = _line_end(data, begin)
        label = _begin_label(data[line_start:line_end].strip())
        if label is None:
            start = next_line
            continue
        end_line = _end_line(data, next_line)
        if end_line is None:
            return blocks  # an unterminated block: nothing more to find
        end_start, line, after = end_line
        if _END + label + _DASHES in line:
            lines = [raw.strip() for raw in data[next_line:end_start].splitlines()]
            block = _block(label, lines)
            if block is not None:
                blocks.append(block)
                if len(blocks) >= MAX_BLOCKS:
                    return blocks
        start = after


def _end_line(data: bytes, start: int) -> tuple[int, bytes, int] | None:
    """The first line from ``start`` that holds an END marker once stripped: where it
    starts, the stripped line, where the next line starts (None: no such line)."""
    while True:
        end = data.find(_END, start)
        if end < 0:
            return None
        line_start = _line_start(data, start, end)
        line_end, after = _line_end(data, end)
        line = data[line_start:line_end].strip()
        if _END in line:
            return line_start, line, after
        start = after  # the marker's space was trailing whitespace: a body line


def _line_start(data: bytes, low: int, at: int) -> int:
    """Where the line holding offset ``at`` starts (``low``: a line start before it)."""
    return max(data.rfind(b"\n", low, at), data.rfind(b"\r", low, at), low - 1) + 1


def _line_end(data: bytes, at: int) -> tuple[int, int]:
    """Where the line holding offset ``at`` ends, and where the next line starts."""
    newline = data.find(b"\n", at)
    carriage = data.find(b"\r", at, None if newline < 0 else newline)
    if carriage >= 0:
        return carriage, carriage + (2 if data[carriage + 1 : carriage + 2] == b"\n" else 1)
    if newline >= 0:
        return newline, newline + 1
    return len(data), len(data)


def _begin_label(line: bytes) -> bytes | None:
    """The label of a BEGIN line; the line may carry text around it (``KEY="-----BEGIN``)."""
    start = line.find(_BEGIN)
    if start < 0:
        return None
    rest = line[start + len(_BEGIN) :]
    end = rest.find(_DASHES)
    return rest[:end] if end > 0 else None


def _block(label: bytes, lines: list[bytes]) -> PemBlock | None:
    headers: dict[str, str] = {}
    body = lines
    if any(b":" in line for line in lines[:4]):
        index = 0
        while index < len(lines) and b":" in lines[index]:
            key, _, value = lines[index].partition(b":")
            headers[key.strip().decode("ascii", "replace")] = value.strip().decode(
                "ascii", "replace"
            )
            index += 1
        body = lines[index:]
    try:
        der = base64.b64decode(b"".join(body), validate=True)
        name = label.decode("ascii")
    except (binascii.Error, ValueError):
        return None
    if not der:
        return None
    return PemBlock(name, der, headers)


def der_element(data: bytes, offset: int = 0) -> tuple[int, int, int] | None:
    """``(tag, header_length, content_length)`` of the DER element at ``offset``, or None."""
    if offset + 2 > len(data):
        return None
    tag = data[offset]
    first = data[offset + 1]
    if first < 0x80:
        return tag, 2, first
    count = first & 0x7F
    if count == 0 or count > 4 or offset + 2 + count > len(data):
        return None
    length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    return tag, 2 + count, length


def first_element(data: bytes) -> bytes | None:
    """The first complete DER element of ``data`` (drops trailing bytes), or None."""
    header = der_element(data)
    if header is None:
        return None
    _tag, head, length = header
    if head + length > len(data):
        return None
    return data[: head + length]


def looks_like_pkcs12(data: bytes) -> bool:
    """Whether ``data`` has PFX's shape: SEQUENCE { INTEGER 3, SEQUENCE { ... } }."""
    outer = der_element(data)
    if outer is None or outer[0] != 0x30:
        return False
    start = outer[1]
    return data[start : start + 3] == b"\x02\x01\x03" and data[start + 3 : start + 4] == b"\x30"
