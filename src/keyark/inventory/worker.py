"""The recognition worker: a child process that parses candidate files for a backup.

A backup's walker is bound to one interpreter lock, so recognition runs beside it in
this process (``python -m keyark.inventory.worker``), started with an environment
without secrets. It reads frames from standard input and answers each on standard
output; it holds no key, opens no file and writes nothing to disk (keybox files, which
``gpg`` reads only from a file, are never sent to it), and exits when its input ends.

The worker also keeps what it found and, at the end, links and encodes the backup's
inventory (:func:`keyark.inventory.document.assemble`), so the backup process spends
neither the decoding of answers nor the encoding of the document on its walk.

A frame is a 4-byte big-endian length and a msgpack document. Requests:

- ``["files", [[ticket, path (text; undecodable bytes as surrogates), mode, uid,
  gid, data], ...]]``, answered by ``["answered", tickets, failures, findings]``: the
  tickets parsed, ``[ticket, error name]`` for each that recognition failed on, and
  ``findings``, the msgpack bytes of ``[[ticket, [finding, ...]], ...]`` (each finding
  as :func:`~keyark.inventory.document.compact_finding`; tickets without findings left
  out), which the backup keeps unopened unless the worker fails later;
- ``["finish", created (ISO 8601), saved tickets, extra findings]``, answered by
  ``["inventory", stored form]``: the inventory of the saved tickets' findings and
  the extra ones (those the backup found itself or took over from the parent
  snapshot), linked as of ``created``.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import msgpack

if TYPE_CHECKING:
    from keyark.inventory.finding import Finding

#: The largest frame either side accepts (a batch is bounded far below it).
MAX_FRAME = 256 * 1024 * 1024
_HEADER = 4


def encode_frame(document: object) -> bytes:
    """``document`` as one frame: its length, then its msgpack encoding."""
    return b"".join(frame_parts(document))


def frame_parts(document: object) -> tuple[bytes, bytes]:
    """:func:`encode_frame` in two parts, header and payload, to be written in turn (a
    batch of candidates is megabytes: not copied once more to be joined)."""
    payload = _pack(document)
    return len(payload).to_bytes(_HEADER, "big"), payload


def unpack(payload: bytes) -> Any:
    """The document msgpack ``payload`` holds (paths may hold undecodable bytes)."""
    return msgpack.unpackb(
        payload, raw=False, unicode_errors="surrogateescape", max_bin_len=MAX_FRAME
    )


def _pack(document: object) -> bytes:
    packed: bytes = msgpack.packb(document, use_bin_type=True, unicode_errors="surrogateescape")
    return packed


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
    return unpack(payload)


class WorkerSession:
    """What one worker found, by ticket, until the backup asks for its inventory."""

    def __init__(self) -> None:
        self._found: dict[int, list[Finding]] = {}
        #: The compact form of each finding answered (encoded once, see ``assemble``).
        self._compacted: dict[int, tuple[Finding, dict[str, Any]]] = {}

    def answer(self, request: list[Any]) -> list[Any]:
        """The answer to one request (see the module's description)."""
        if request[0] == "files":
            return self._files(request[1])
        if request[0] == "finish":
            return self._finish(request[1], request[2], request[3])
        raise ValueError("unknown request")

    def _files(self, files: list[Any]) -> list[Any]:
        from keyark.inventory.document import compact_finding
        from keyark.inventory.recognise import recognise

        tickets: list[int] = []
        failures: list[list[Any]] = []
        found: list[list[Any]] = []
        for ticket, path, mode, uid, gid, data in files:
            tickets.append(ticket)
            try:
                findings = recognise(path, data, mode=mode, uid=uid, gid=gid)
            except Exception as error:  # recognise never raises; a bug is told, not fatal
                failures.append([ticket, type(error).__name__])
                continue
            if findings:
                self._found[ticket] = findings
                compact = [compact_finding(finding) for finding in findings]
                for finding, form in zip(findings, compact, strict=True):
                    self._compacted[id(finding)] = (finding, form)
                found.append([ticket, compact])
        return ["answered", tickets, failures, _pack(found)]

    def _finish(self, created: str, saved: list[int], extra: list[Any]) -> list[Any]:
        from keyark.inventory.document import assemble
        from keyark.inventory.finding import Finding

        by_path: dict[str, list[Finding]] = {}
        for ticket in saved:
            for finding in self._found.get(ticket, ()):
                by_path.setdefault(finding.path, []).append(finding)
        for entry in extra:
            finding = Finding.from_dict(entry)
            by_path.setdefault(finding.path, []).append(finding)
        return [
            "inventory",
            assemble(by_path, datetime.fromisoformat(created), self._compacted),
        ]


def _read_exact(stream: IO[bytes], length: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        part = stream.read(length)
        if not part:
            break
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


#: How much lower the worker's scheduling priority is than its backup's.
NICENESS = 19


def _yield_to_the_backup() -> None:
    """Lower this process's priority: on a machine with few cores the backup's own
    threads (reading, compressing, encrypting) then run first and recognition fills
    the time they leave; the backup waits for the worker only at its end, when the
    worker has the cores to itself."""
    try:
        os.nice(NICENESS)
    except OSError:  # not permitted here: recognition still runs, at the same priority
        pass


def main() -> int:
    """Answer requests until standard input ends."""
    _yield_to_the_backup()
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident goes to standard error, not the answers
    session = WorkerSession()
    with answers:
        while True:
            request = read_frame(requests)
            if request is None:
                return 0
            answers.write(encode_frame(session.answer(request)))
            answers.flush()


if __name__ == "__main__":
    sys.exit(main())
