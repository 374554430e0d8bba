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
(:class:`~keyark.archiver.recognition.RecognitionWorker`), which keeps its findings
and, at the end, links and encodes the inventory (:meth:`encoded`): the backup
process neither decodes the findings nor encodes the document, and checks only the
document's form (zlib, JSON object of this version): like anything read from storage,
every finding is validated where the inventory is read. Fewer candidates are parsed
here at the end. At most :data:`MAX_HELD_BYTES` of candidates wait at a time: beyond
that the walk waits for the worker to catch up. Whatever the worker did not answer
(it stopped, stalled, or answered nonsense) is parsed here, the findings it did
answer are opened and checked here, and the inventory is assembled here: it is
complete either way, and a failed worker is a warning.

Findings are recorded only for files that end up in the snapshot, linked across
files (certificate and key pairs, expiry) at the end.
"""

from __future__ import annotations

import os
import threading
import zlib
from datetime import datetime
from typing import Final

from keyark.archiver import walk
from keyark.archiver.head_capture import HeadCapture, read_rest
from keyark.archiver.recognition import RecognitionWorker, worker_findings
from keyark.errors import FormatError, SourceError
from keyark.events import Code, Events
from keyark.inventory.candidates import HEAD_BYTES, MAX_CANDIDATE_SIZE, is_candidate
from keyark.inventory.document import assemble, compact_finding
from keyark.inventory.finding import INVENTORY_VERSION, Finding, Inventory
from keyark.repo.inventory import MAX_DOCUMENT, checked_size, decode_inventory

#: More waiting candidates than this start the worker (fewer are parsed at the end).
WORKER_THRESHOLD = 200
#: At most this many bytes of candidates wait for the worker; the walk waits beyond.
MAX_HELD_BYTES = 32 << 20
#: The worker is given up (and the rest parsed here) after this long without an answer.
WORKER_STALL_SECONDS = 30.0
#: How long the worker may take to assemble the inventory, per saved file, beyond
#: :data:`WORKER_STALL_SECONDS`.
ASSEMBLY_SECONDS_PER_FILE = 0.001


#: A file waiting to be parsed, as the worker is sent it: ticket, path, mode, uid, gid,
#: data (a tuple: the backup makes one per candidate file).
_Candidate = tuple[int, str, int, int, int, bytes]
_TICKET: Final = 0
_PATH: Final = 1
_DATA: Final = 5


class InventoryRecorder:
    """The findings of one backup, with the parent's to take over for unchanged files."""

    def __init__(
        self,
        parent: Inventory | None,
        *,
        created: datetime | None = None,
        worker_threshold: int | None = None,
        max_held_bytes: int | None = None,
    ) -> None:
        """``created``: when the inventory is made (the backup's time), if known now."""
        #: The parent's findings by path (None: the parent has no inventory).
        self._parent: dict[str, list[Finding]] | None = None
        if parent is not None:
            self._parent = {}
            for finding in parent.findings:
                self._parent.setdefault(finding.path, []).append(finding)
        self._threshold = WORKER_THRESHOLD if worker_threshold is None else worker_threshold
        self._max_held = MAX_HELD_BYTES if max_held_bytes is None else max_held_bytes
        #: Findings taken over from the parent, by path.
        self._found: dict[str, list[Finding]] = {}
        #: Files saved whose candidate is (or was) waiting: path -> ticket.
        self._saved: dict[str, int] = {}
        #: Candidates not parsed yet, by ticket.
        self._waiting: dict[int, _Candidate] = {}
        self._held = 0
        self._unsent: list[int] = []
        #: Findings by ticket of the files parsed here (and, once the worker failed,
        #: of those it answered).
        self._answers: dict[int, list[Finding]] = {}
        #: The findings the worker answered, unopened (see :meth:`_recover`).
        self._worker_found: list[bytes] = []
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._worker: RecognitionWorker | None = None
        self._events: Events | None = None
        self._encoded: tuple[datetime, bytes] | None = None
        self._created = created
        #: The time the worker was asked to make the inventory at (None: not asked).
        self._asked: datetime | None = None
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
        with self._lock:
            self.parsed += 1
            ticket = self.parsed
            candidate = (ticket, path, st.st_mode & 0o7777, st.st_uid, st.st_gid, data)
            worker = self._worker
            if worker is not None and self._held > self._max_held:
                self._wait_for_room(worker)
            inline = data[8:12] == b"KBXf" or (  # gpg reads a keybox from a file: never sent
                worker is not None and (not worker.alive or self._held > self._max_held)
            )
            if not inline:
                self._waiting[ticket] = candidate
                self._held += len(data)
                if worker is not None:
                    worker.send(candidate)
                else:
                    self._unsent.append(ticket)
                    if len(self._unsent) > self._threshold or self._held > self._max_held:
                        self._start_worker()
        if inline:
            self._parse(candidate)
        return ticket

    def _wait_for_room(self, worker: RecognitionWorker) -> None:
        """Wait (holding the lock's condition) while more than the bound of candidates
        waits for a worker that keeps answering: the walk slows to the worker's pace
        rather than parsing here, which would slow it more (one interpreter lock)."""
        worker.flush()
        answered = -1
        while self._held > self._max_held and worker.alive:
            if answered == self.worker_answered:
                worker.failed = "it stopped answering"
                return
            answered = self.worker_answered
            self._progress.wait(WORKER_STALL_SECONDS)

    def add(self, path: str, ticket: int | None) -> None:
        """Record the file ``path`` (saved in the snapshot) as :meth:`inspect` took it."""
        if ticket is not None:
            with self._lock:
                self._saved[path] = ticket

    def end_input(self) -> None:
        """No more files come: the worker may parse what waits and, when the time the
        inventory is made at was given (``created``), assemble it while the backup
        saves its snapshot."""
        with self._lock:
            worker = self._worker
            if worker is not None and self._created is not None and self._asked is None:
                self._ask_inventory(worker, self._created)
            elif worker is not None:
                worker.flush()

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
            data = head + read_rest(fd, MAX_CANDIDATE_SIZE + 1 - len(head))
        except OSError:
            return
        finally:
            os.close(fd)
        self.add(path, self.inspect(path, data, st))

    @property
    def failures(self) -> list[str]:
        """Files whose recognition failed (path and error type: never content); every
        file is parsed first."""
        self._settle()
        with self._lock:
            return list(self._failures)

    def encoded(self, now: datetime) -> bytes:
        """The stored form of the inventory of everything recorded, linked across files
        as of ``now``; FormatError when it is too large to store.

        Assembled by the worker when it ran, else (or when it failed) here; a worker
        that failed is reported as a warning, never an error.
        """
        if self._encoded is not None and self._encoded[0] == now:
            return self._encoded[1]
        self._settle()
        result = self._assembled_by_worker(now)
        if result is None:
            with self._lock:
                found = dict(self._found)
                for path, ticket in self._saved.items():
                    if self._answers.get(ticket):
                        found[path] = self._answers[ticket]
            result = assemble(found, now)
        self._encoded = (now, checked_size(result))
        return self._encoded[1]

    def finish(self, now: datetime) -> Inventory:
        """The inventory of everything recorded (:meth:`encoded`, read back)."""
        return decode_inventory(self.encoded(now), "the recorded inventory")

    def _assembled_by_worker(self, now: datetime) -> bytes | None:
        """The worker's inventory (None: it did not run, or failed and is recovered)."""
        with self._lock:
            worker = self._worker
            if worker is None:
                return None
            if self._asked is None:
                self._ask_inventory(worker, now)
            asked = self._asked
        worker.wait(WORKER_STALL_SECONDS + ASSEMBLY_SECONDS_PER_FILE * len(self._saved))
        result = worker.inventory
        if worker.failed is None and (result is None or not _well_formed(result)):
            worker.failed = "it answered no inventory" if result is None else (
                "it answered a malformed inventory"
            )  # fmt: skip
        self.abort()
        if worker.failed is None and asked == now:
            return result
        self._recover(worker)  # (made as of another time: assembled here, no warning)
        return None

    def _ask_inventory(self, worker: RecognitionWorker, now: datetime) -> None:
        """Ask the worker for the inventory as of ``now`` (called holding the lock, once
        every file is saved): the saved files it parsed, plus the findings taken over
        and those parsed here."""
        saved = [ticket for ticket in self._saved.values() if ticket not in self._answers]
        extra = [compact_finding(f) for found in self._found.values() for f in found]
        for ticket in self._saved.values():
            extra.extend(compact_finding(f) for f in self._answers.get(ticket, ()))
        worker.finish(now.isoformat(), saved, extra)
        self._asked = now

    def _settle(self) -> None:
        """Wait for the worker's answers, then parse whatever is left here."""
        self.end_input()
        with self._progress:
            worker = self._worker
            answered = -1
            while worker is not None and worker.failed is None and self._waiting:
                if answered == self.worker_answered:
                    worker.failed = "it stopped answering"
                    break
                answered = self.worker_answered
                self._progress.wait(WORKER_STALL_SECONDS)
        if worker is not None and worker.failed is not None:
            self.abort()
            self._recover(worker)
        with self._lock:
            left = sorted(self._waiting.items())
        for _ticket, candidate in left:
            self._parse(candidate)

    def _recover(self, worker: RecognitionWorker) -> None:
        """Open and check what the worker answered, to assemble the inventory here; a
        worker that failed is reported (once)."""
        with self._lock:
            found, self._worker_found = self._worker_found, []
            waiting = len(self._waiting)
            paths = {ticket: path for path, ticket in self._saved.items()}
        for part in found:
            try:
                answers = worker_findings(part)
            except (ValueError, FormatError) as error:
                worker.failed = f"it answered malformed data ({type(error).__name__})"
                continue
            for ticket, findings in answers:
                path = paths.get(ticket)
                if path is not None and all(f.path == path for f in findings):
                    with self._lock:
                        self._answers[ticket] = findings
        if worker.failed is not None and self._events is not None:
            self._events.warn(
                Code.INVENTORY,
                f"the key material recognition process failed ({worker.failed}); "
                f"{waiting} files were recognised in the backup process instead",
            )

    def _start_worker(self) -> None:
        """Start the worker and send it what waits (called holding the lock)."""
        try:
            worker = RecognitionWorker(self._worker_answered, self._worker_ended)
        except OSError:
            return  # no worker: everything is parsed here at the end
        self._worker = worker
        self.worker_pid = worker.pid
        for ticket in self._unsent:
            worker.send(self._waiting[ticket])
        self._unsent = []
        worker.flush()

    def _worker_answered(
        self, tickets: list[int], failures: list[tuple[int, str]], found: bytes
    ) -> None:
        with self._progress:
            failed = dict(failures)
            for ticket in tickets:
                candidate = self._waiting.pop(ticket, None)
                if candidate is None:
                    continue  # not asked, or answered already
                self._held -= len(candidate[_DATA])
                self.worker_answered += 1
                if ticket in failed:
                    self._failures.append(f"{candidate[_PATH]}: {failed[ticket]}")
            self._worker_found.append(found)
            self._progress.notify_all()

    def _worker_ended(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _parse(self, candidate: _Candidate) -> None:
        """Recognise ``candidate`` here (a parser bug is recorded as a failure)."""
        # The recognisers (cryptography's X.509 and serialization) load only when a
        # file is parsed here: most backups hand their candidates to the worker.
        from keyark.inventory.recognise import recognise

        try:
            findings = recognise(
                candidate[_PATH], candidate[_DATA],
                mode=candidate[2], uid=candidate[3], gid=candidate[4],
            )  # fmt: skip
        except Exception as error:  # a parser bug never fails the backup; it is told
            findings = None
            failure = f"{candidate[_PATH]}: {type(error).__name__}"
        with self._lock:
            if self._waiting.pop(candidate[_TICKET], None) is not None:
                self._held -= len(candidate[_DATA])
            if findings is None:
                self._failures.append(failure)
            elif findings:
                self._answers[candidate[_TICKET]] = findings


def _well_formed(encoded: bytes) -> bool:
    """Whether ``encoded`` has an inventory's stored form as far as the backup checks
    (whole, bounded zlib holding the JSON object :func:`assemble` writes, of this
    version); its findings are validated where the inventory is read, as anything read
    from storage (parsing them here would cost the backup what the worker saves it)."""
    inflater = zlib.decompressobj()
    try:
        document = inflater.decompress(encoded, MAX_DOCUMENT)
    except zlib.error:
        return False
    return (
        inflater.eof
        and not inflater.unconsumed_tail
        and document.startswith(b'{"created":"')
        and b'","findings":[' in document[:96]
        and document.endswith(b'],"version":%d}' % INVENTORY_VERSION)
    )


__all__ = ["HeadCapture", "InventoryRecorder"]
