"""Recording the key and certificate inventory while a backup reads its files.

Candidates are chosen cheaply (name, size, first bytes: :func:`is_candidate`) from
the bytes the backup reads anyway, so no file is opened twice; only candidates
(at most :data:`MAX_CANDIDATE_SIZE` bytes each) are kept in memory, until they are
parsed. A file the parent snapshot has unchanged is not read: its findings are
taken over from the parent's inventory. When the parent has no inventory (or a
write-only agent reuses its file cache), an unchanged file's first bytes are read
to decide, and a candidate is read whole: once, since the next backup's parent has
an inventory.

Parsing is off the backup's path: once more than :data:`WORKER_THRESHOLD` candidates
are waiting, they go to one recognition worker process
(:class:`~keyark.archiver.recognition.RecognitionWorker`); fewer are parsed here at
the end. At most :data:`MAX_HELD_BYTES` of candidates wait at a time; beyond that,
and for whatever the worker did not answer (it stopped, or stalled), files are
parsed here: the inventory is complete either way, and a failed worker is a warning.

Findings are recorded only for files that end up in the snapshot; :meth:`finish`
links them across files (certificate and key pairs, expiry) at the end.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from datetime import datetime

from keyark.archiver import walk
from keyark.archiver.recognition import RecognitionWorker
from keyark.errors import SourceError
from keyark.events import Code, Events
from keyark.inventory.model import (
    HEAD_BYTES,
    MAX_CANDIDATE_SIZE,
    Finding,
    Inventory,
    is_candidate,
    link,
    recognise,
)

#: More waiting candidates than this start the worker (fewer are parsed at the end).
WORKER_THRESHOLD = 200
#: At most this many bytes of candidates wait for the worker; more are parsed here.
MAX_HELD_BYTES = 32 << 20
#: The worker is given up (and the rest parsed here) after this long without an answer.
WORKER_STALL_SECONDS = 30.0


@dataclass(frozen=True)
class _Candidate:
    path: str
    data: bytes
    mode: int
    uid: int
    gid: int


class InventoryRecorder:
    """The findings of one backup, with the parent's to take over for unchanged files."""

    def __init__(
        self,
        parent: Inventory | None,
        *,
        worker_threshold: int | None = None,
        max_held_bytes: int | None = None,
    ) -> None:
        #: The parent's findings by path (None: the parent has no inventory).
        self._parent: dict[str, list[Finding]] | None = None
        if parent is not None:
            self._parent = {}
            for finding in parent.findings:
                self._parent.setdefault(finding.path, []).append(finding)
        self._threshold = WORKER_THRESHOLD if worker_threshold is None else worker_threshold
        self._max_held = MAX_HELD_BYTES if max_held_bytes is None else max_held_bytes
        self._found: dict[str, list[Finding]] = {}
        #: Files saved whose candidate is (or was) waiting: path -> ticket.
        self._saved: dict[str, int] = {}
        #: Candidates not parsed yet, by ticket; parsed ones' findings by ticket.
        self._waiting: dict[int, _Candidate] = {}
        self._held = 0
        self._unsent: list[int] = []
        self._answers: dict[int, list[Finding]] = {}
        self._lock = threading.Lock()
        self._worker: RecognitionWorker | None = None
        self._events: Events | None = None
        #: How many files were parsed (candidates), for the benchmark and tests.
        self.parsed = 0
        #: How many of them the worker answered; the process id it had (None: not started).
        self.worker_answered = 0
        self.worker_pid: int | None = None
        self._failures: list[str] = []

    def bind(self, events: Events) -> None:
        """Report a failed worker to ``events`` (the backup's)."""
        self._events = events

    def inspect(
        self, path: str, data: bytes, st: os.stat_result, size: int | None = None
    ) -> int | None:
        """Take file ``path`` read as ``data``: a ticket for :meth:`add` (None: not a
        candidate). The file is parsed later, here or by the worker.

        ``size`` is the length read when ``data`` holds only the start of a file too
        large to be a candidate (it is then never parsed).
        """
        if not is_candidate(path, len(data) if size is None else size, data[:HEAD_BYTES]):
            return None
        candidate = _Candidate(path, data, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        with self._lock:
            self.parsed += 1
            ticket = self.parsed
            worker = self._worker
            inline = data[8:12] == b"KBXf" or (  # gpg reads a keybox from a file: never sent
                worker is not None and (not worker.alive or self._held > self._max_held)
            )
            if not inline:
                self._waiting[ticket] = candidate
                self._held += len(data)
                if worker is not None:
                    worker.send(ticket, os.fsencode(path), *_facts(candidate))
                else:
                    self._unsent.append(ticket)
                    if len(self._unsent) > self._threshold or self._held > self._max_held:
                        self._start_worker()
        if inline:
            self._answer(ticket, self._parse(candidate), None)
        return ticket

    def add(self, path: str, ticket: int | None) -> None:
        """Record the file ``path`` (saved in the snapshot) as :meth:`inspect` took it."""
        if ticket is not None:
            with self._lock:
                self._saved[path] = ticket

    def end_input(self) -> None:
        """No more files come: the worker may finish what it has and exit."""
        with self._lock:
            if self._worker is not None:
                self._worker.close_input()

    def abort(self) -> None:
        """Stop the worker now (the backup failed or was cancelled)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()

    def unchanged(self, dir_fd: int, name: str, path: str, st: os.stat_result) -> None:
        """Record the findings of an unchanged file that is not read for the backup."""
        if self._parent is not None:
            found = self._parent.get(path)
            if found:
                with self._lock:
                    self._found[path] = found
            return
        if not 0 < st.st_size <= MAX_CANDIDATE_SIZE:
            return
        try:
            fd, _size = walk.open_file(dir_fd, name, st, path)
        except (SourceError, OSError):
            return  # it is reported, if at all, by the backup itself
        try:
            head = os.read(fd, HEAD_BYTES)
            if not is_candidate(path, st.st_size, head):
                return
            data = head + _read_rest(fd, MAX_CANDIDATE_SIZE + 1 - len(head))
        except OSError:
            return
        finally:
            os.close(fd)
        self.add(path, self.inspect(path, data, st))

    @property
    def failures(self) -> list[str]:
        """Files whose recognition failed (path and error type: never content); every
        file is parsed first (see :meth:`finish`)."""
        self._settle()
        with self._lock:
            return list(self._failures)

    def finish(self, now: datetime) -> Inventory:
        """The inventory of everything recorded, linked across files as of ``now``.

        Waits for the worker while it keeps answering; whatever it did not answer is
        parsed here (a worker that failed is reported as a warning, never an error).
        """
        self._settle()
        with self._lock:
            for path, ticket in self._saved.items():
                found = self._answers.get(ticket)
                if found:
                    self._found[path] = found
            findings = [f for path in sorted(self._found) for f in self._found[path]]
        return Inventory(findings=link(findings, now), created=now)

    def _settle(self) -> None:
        """Wait for the worker's answers, then parse whatever is left here."""
        self.end_input()
        with self._lock:
            worker = self._worker
        if worker is not None:
            answered = -1
            while not worker.wait(WORKER_STALL_SECONDS) and answered != self.worker_answered:
                answered = self.worker_answered
            if not worker.wait(0):
                worker.failed = worker.failed or "it stopped answering"
            self.abort()
            if worker.failed is not None and self._events is not None:
                self._events.warn(
                    Code.INVENTORY,
                    f"the key material recognition process failed ({worker.failed}); "
                    f"{len(self._waiting)} files were recognised in the backup process instead",
                )
        with self._lock:
            left = sorted(self._waiting.items())
        for ticket, candidate in left:
            self._answer(ticket, self._parse(candidate), None)

    def _start_worker(self) -> None:
        """Start the worker and send it what waits (called holding the lock)."""
        try:
            worker = RecognitionWorker(self._worker_answer)
        except OSError:
            return  # no worker: everything is parsed here at the end
        self._worker = worker
        self.worker_pid = worker.pid
        for ticket in self._unsent:
            worker.send(ticket, os.fsencode(self._waiting[ticket].path),
                        *_facts(self._waiting[ticket]))  # fmt: skip
        self._unsent = []
        worker.flush()

    def _worker_answer(
        self, ticket: int, findings: list[Finding] | None, error: str | None
    ) -> None:
        with self._lock:
            candidate = self._waiting.get(ticket)
        if candidate is None:
            return  # not asked, or answered already
        if findings is not None and any(f.path != candidate.path for f in findings):
            return  # a finding for another file: parsed here instead
        with self._lock:
            self.worker_answered += 1
        self._answer(ticket, findings, error)

    def _answer(self, ticket: int, findings: list[Finding] | None, error: str | None) -> None:
        with self._lock:
            candidate = self._waiting.pop(ticket, None)
            if candidate is not None:
                self._held -= len(candidate.data)
            if findings:
                self._answers[ticket] = findings
            elif error is not None and candidate is not None:
                self._failures.append(f"{candidate.path}: {error}")

    def _parse(self, candidate: _Candidate) -> list[Finding] | None:
        """Recognise ``candidate`` here; None (a failure recorded) if a parser bug raised."""
        try:
            return recognise(
                candidate.path, candidate.data,
                mode=candidate.mode, uid=candidate.uid, gid=candidate.gid,
            )  # fmt: skip
        except Exception as error:  # a parser bug never fails the backup; it is told
            with self._lock:
                self._failures.append(f"{candidate.path}: {type(error).__name__}")
            return None


def _facts(candidate: _Candidate) -> tuple[int, int, int, bytes]:
    return candidate.mode, candidate.uid, candidate.gid, candidate.data


class HeadCapture:
    """A raw stream wrapper that keeps the first ``limit`` bytes read through it."""

    def __init__(self, stream: object, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._parts: list[bytes] = []
        self._kept = 0

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Read into ``buffer`` (as the wrapped stream does), keeping the start."""
        count: int = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        if count and self._kept < self._limit:
            part = bytes(memoryview(buffer)[: min(count, self._limit - self._kept)])
            self._parts.append(part)
            self._kept += len(part)
        return count

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (as the wrapped stream does), keeping the start."""
        data: bytes = self._stream.read(size)  # type: ignore[attr-defined]
        if data and self._kept < self._limit:
            part = data[: self._limit - self._kept]
            self._parts.append(part)
            self._kept += len(part)
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    @property
    def head(self) -> bytes:
        """What was kept."""
        return b"".join(self._parts)


def _read_rest(fd: int, limit: int) -> bytes:
    parts: list[bytes] = []
    while limit > 0:
        part = os.read(fd, min(limit, 1 << 16))
        if not part:
            break
        parts.append(part)
        limit -= len(part)
    return b"".join(parts)


__all__ = ["HeadCapture", "InventoryRecorder"]
