"""PEM blocks and DER elements: the framing around key material.

:func:`pem_blocks` splits a text into its ``-----BEGIN X-----`` ... ``-----END X-----``
blocks (RFC 7468, with RFC 1421 headers such as ``Proc-Type``); the content of each is
then parsed by ``cryptography``. :func:`der_element` reads one DER tag-length header,
enough to cut a certificate off trailing data or to tell a PKCS#12 file by its shape.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

#: At most this many blocks are read from one file.
MAX_BLOCKS = 10_000

_BEGIN = b"-----BEGIN "
_END = b"-----END "
_DASHES = b"-----"
#: The first byte of a DER SEQUENCE: every certificate and (unencrypted) key starts so.
DER_SEQUENCE = b"\x30"
#: Bytes that make a block's lines more than base64 and line ends (headers, spaces).
_NOT_PLAIN = (b":", b" ", b"\t", b"\r", b"\x0b", b"\x0c")
_BASE64_DIGITS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


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


#: What :func:`_region_block` answers for a block left out (never returned to callers).
_LEFT_OUT = PemBlock("", b"")


def pem_blocks(data: bytes, wanted: Mapping[str, bytes] | None = None) -> list[PemBlock]:
    """Every well-formed PEM block of ``data``; malformed blocks are skipped.

    BEGIN and END lines may carry text around them (a PEM value quoted in a ``.env``
    or YAML file); the lines between are the block's headers and base64 body. Lines
    end as :meth:`bytes.splitlines` ends them; the markers are found with
    :meth:`bytes.find`, so a body is never walked line by line in Python.

    ``wanted`` (label -> the bytes its DER body must start with) leaves out, without
    decoding them, the blocks the caller would find nothing in: those of other labels
    and, when a block has no RFC 1421 headers, those whose body starts otherwise (a
    certificate or unencrypted key is a DER SEQUENCE). Left-out blocks still count
    towards :data:`MAX_BLOCKS`.
    """
    blocks: list[PemBlock] = []
    seen = 0  # well-formed blocks, left out or not
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
            block = _region_block(label, data[next_line:end_start], wanted)
            if block is not None:
                seen += 1
                if block is not _LEFT_OUT:
                    blocks.append(block)
                if seen >= MAX_BLOCKS:
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


def _region_block(
    label: bytes, region: bytes, wanted: Mapping[str, bytes] | None
) -> PemBlock | None:
    """The block of ``label`` whose lines (between BEGIN and END) are ``region``: None
    when malformed, :data:`_LEFT_OUT` when well-formed but not ``wanted``."""
    prefix: bytes | None = b""
    if wanted is not None:
        try:
            prefix = wanted.get(label.decode("ascii"))
        except UnicodeDecodeError:
            return None
    if _has_any(region, _NOT_PLAIN):
        # Headers, or whitespace inside lines: line by line (rare).
        block = _block(label, [raw.strip() for raw in region.splitlines()])
        return _LEFT_OUT if block is not None and prefix is None else block
    # No headers and no whitespace but line ends: the body is the lines, joined.
    body = region.replace(b"\n", b"")
    if prefix:
        chars = -(-len(prefix) // 3) * 4
        if len(body) > chars:
            try:  # the first bytes, decoded alone (as they are in the whole body)
                head = binascii.a2b_base64(body[:chars], strict_mode=True)
            except binascii.Error:
                return None  # then the whole body is not strict base64 either
            if not head.startswith(prefix):
                prefix = None
    if prefix is None:
        return _LEFT_OUT if _is_base64(body) else None
    return _decoded(label, body, {})


def _is_base64(body: bytes) -> bool:
    """Whether ``body`` decodes (strict base64) to at least one byte, as
    :func:`_decoded` requires; without decoding it when it is base64 digits then the
    padding they call for."""
    digits = body.rstrip(b"=")
    padding = len(body) - len(digits)
    if (
        digits
        and not digits.translate(None, _BASE64_DIGITS)
        and len(body) % 4 == 0
        and (padding == 0 or (padding <= 2 and len(digits) % 4 == 4 - padding))
    ):
        return True
    return _decoded(b"", body, {}) is not None


def _has_any(data: bytes, needles: tuple[bytes, ...]) -> bool:
    for needle in needles:  # noqa: SIM110 (a loop: any() of a generator costs more)
        if needle in data:
            return True
    return False


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
    return _decoded(label, b"".join(body), headers)


def _decoded(label: bytes, body: bytes, headers: dict[str, str]) -> PemBlock | None:
    try:
        der = binascii.a2b_base64(body, strict_mode=True)
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
