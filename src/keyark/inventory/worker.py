"""The recognition worker: a child process that parses candidate files for a backup.

A backup's walker is bound to one interpreter lock, so recognition runs beside it in
this process (``python -m keyark.inventory.worker``), started with an environment
without secrets. It reads frames from standard input and answers each on standard
output; it holds no key, opens no file and writes nothing to disk (keybox files, which
``gpg`` reads only from a file, are never sent to it), and exits when its input ends.

A frame is a 4-byte big-endian length and a msgpack document. A request is a list of
``[ticket, path (bytes, as the file system names it), mode, uid, gid, data]``; the
answer is a list of ``[ticket, findings, error]``: the findings as
:meth:`Finding.to_dict` (None and empty fields left out) or None with the name of the
error that stopped recognition.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

import msgpack

#: The largest frame either side accepts (a batch is bounded far below it).
MAX_FRAME = 256 * 1024 * 1024
_HEADER = 4


def encode_frame(document: object) -> bytes:
    """``document`` as one frame: its length, then its msgpack encoding."""
    payload: bytes = msgpack.packb(document, use_bin_type=True, unicode_errors="surrogateescape")
    return len(payload).to_bytes(_HEADER, "big") + payload


def read_frame(stream: IO[bytes]) -> Any:
    """The next frame's document from ``stream``; None at the end of the stream.

    Raises ValueError for a truncated or oversized frame.
    """
    header = _read_exact(stream, _HEADER)
    if not header:
        return None
    if len(header) < _HEADER:
        raise ValueError("truncated frame header")
    length = int.from_bytes(header, "big")
    if length > MAX_FRAME:
        raise ValueError("oversized frame")
    payload = _read_exact(stream, length)
    if len(payload) < length:
        raise ValueError("truncated frame")
    return msgpack.unpackb(
        payload, raw=False, unicode_errors="surrogateescape", max_bin_len=MAX_FRAME
    )


def answer(request: list[Any]) -> list[list[Any]]:
    """The answers to one request (see the module's description)."""
    from keyark.inventory.recognise import recognise

    answers: list[list[Any]] = []
    for ticket, path, mode, uid, gid, data in request:
        try:
            findings = recognise(os.fsdecode(path), data, mode=mode, uid=uid, gid=gid)
            answers.append([ticket, [_compact(finding.to_dict()) for finding in findings], None])
        except Exception as error:  # recognise never raises; a bug is told, not fatal
            answers.append([ticket, None, type(error).__name__])
    return answers


def _compact(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without null and empty fields (they read back as their defaults)."""
    return {key: value for key, value in document.items() if value is not None and value != []}


def _read_exact(stream: IO[bytes], length: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        part = stream.read(length)
        if not part:
            break
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


def main() -> int:
    """Answer requests until standard input ends."""
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident goes to standard error, not the answers
    with answers:
        while True:
            request = read_frame(requests)
            if request is None:
                return 0
            answers.write(encode_frame(answer(request)))
            answers.flush()


if __name__ == "__main__":
    sys.exit(main())
