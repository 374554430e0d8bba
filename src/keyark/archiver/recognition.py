"""The backup's side of the recognition worker (:mod:`keyark.inventory.worker`).

One child process per backup, started with :func:`keyark.redaction.child_environment`
(no keyark secret), fed batches of candidates over its standard input by a writer
thread, its answers read by a reader thread. The findings it answers are kept
unopened: the worker assembles the inventory itself at the end, and only when it
fails are they opened, validated with :meth:`Finding.from_dict` (the child is not
trusted more than storage), and assembled here. Everything
here is best effort: a worker that cannot start, stops or answers nonsense is
reported through :attr:`RecognitionWorker.failed`, and the recorder parses inline
whatever it did not answer.
"""

from __future__ import annotations

import fcntl
import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from keyark.inventory.finding import Finding
from keyark.inventory.worker import encode_frame, frame_parts, read_frame, unpack
from keyark.redaction import child_environment

#: How the worker is started (arguments after the interpreter).
WORKER_ARGUMENTS = ("-B", "-m", "keyark.inventory.worker")
#: A batch is sent once it holds this many files or bytes.
BATCH_FILES = 512
BATCH_BYTES = 4 << 20
#: The pipe size asked for both ways (Linux's default pipe-max-size, 1 MiB).
PIPE_BYTES = 1 << 20

#: What the recorder is told of each batch answered: the tickets parsed, the failures
#: (ticket, error name), and the findings as the worker sent them (msgpack, unopened).
Answered = Callable[[list[int], list[tuple[int, str]], bytes], None]


class RecognitionWorker:
    """A running worker process and the two threads that talk to it."""

    def __init__(self, on_answered: Answered, on_end: Callable[[], None]) -> None:
        self._on_answered = on_answered
        self._on_end = on_end
        self.process = subprocess.Popen(
            [sys.executable, *WORKER_ARGUMENTS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=child_environment(),
            close_fds=True,
        )
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                _widen_pipe(stream.fileno())
        #: Why the worker stopped answering before its input ended (None: it did not).
        self.failed: str | None = None
        #: The inventory's stored form, as the worker assembled it (None: not yet).
        self.inventory: bytes | None = None
        self._closing = False
        self._batch: list[Sequence[Any]] = []
        self._batch_bytes = 0
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._done = threading.Event()
        self._finalizer = weakref.finalize(self, _kill, self.process)
        self._writer = threading.Thread(
            target=self._write, name="keyark-inventory-send", daemon=True
        )
        self._reader = threading.Thread(
            target=self._read, name="keyark-inventory-answers", daemon=True
        )
        self._writer.start()
        self._reader.start()

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    @property
    def alive(self) -> bool:
        """Whether the worker still takes requests."""
        return self.failed is None and not self._closing

    def send(self, candidate: Sequence[Any]) -> None:
        """Queue one candidate, ``(ticket, path, mode, uid, gid, data)`` (sent with its
        batch)."""
        self._batch.append(candidate)
        self._batch_bytes += len(candidate[5])
        if len(self._batch) >= BATCH_FILES or self._batch_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send the batch being filled."""
        if self._batch:
            for part in frame_parts(["files", self._batch]):
                self._frames.put(part)
            self._batch = []
            self._batch_bytes = 0

    def finish(self, created: str, saved: list[int], extra: list[dict[str, Any]]) -> None:
        """Ask for the inventory (see :mod:`keyark.inventory.worker`) and end the input:
        the worker exits once it has answered; :meth:`wait` for it."""
        if not self._closing:
            self.flush()
            self._frames.put(encode_frame(["finish", created, saved, extra]))
            self._closing = True
            self._frames.put(None)

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the worker's last answer; whether it came."""
        return self._done.wait(seconds)

    def kill(self) -> None:
        """Stop the worker now (cancel, failure, or a stalled worker) and reap it."""
        self._closing = True
        self._frames.put(None)
        self._finalizer()

    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (frame := self._frames.get()) is not None:
                stdin.write(frame)
            stdin.flush()
        except (OSError, ValueError):
            if self.failed is None and not self._done.is_set():
                self.failed = "its input was closed"
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while (document := read_frame(stdout)) is not None:
                if _is_answer(document, "inventory", 2) and type(document[1]) is bytes:
                    self.inventory = document[1]
                else:
                    self._on_answered(*_answered(document))
        except Exception as error:  # a malformed answer: the rest is parsed inline
            self.failed = f"it answered malformed data ({type(error).__name__})"
        else:
            if self.process.wait() != 0 and self.failed is None:
                self.failed = f"it exited with status {self.process.returncode}"
        finally:
            if self.failed is None and not self._closing:
                self.failed = "it exited before its input ended"
            self._done.set()
            self._on_end()


def _widen_pipe(fd: int) -> None:
    """Let pipe ``fd`` hold a whole batch (Linux; best effort): the writer thread then
    hands a batch over in one system call instead of one per 64 KiB, each of which
    gave the interpreter lock away and took it back from the walk."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or above the system's pipe-max-size
        pass


def _is_answer(document: object, kind: str, length: int) -> bool:
    return type(document) is list and len(document) == length and document[0] == kind


def _answered(document: object) -> tuple[list[int], list[tuple[int, str]], bytes]:
    """A validated ``answered`` frame: tickets, failures, findings (unopened)."""
    if not _is_answer(document, "answered", 4):
        raise ValueError("an answer is not [answered, tickets, failures, findings]")
    assert isinstance(document, list)
    _kind, tickets, failures, found = document
    if type(tickets) is not list or not all(type(ticket) is int for ticket in tickets):
        raise ValueError("an answer's tickets are not a list of integers")
    if type(failures) is not list or type(found) is not bytes:
        raise ValueError("an answer's failures or findings are malformed")
    told: list[tuple[int, str]] = []
    for item in failures:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not int:
            raise ValueError("a failure is not [ticket, error]")
        told.append((item[0], str(item[1])[:64]))
    return tickets, told, found


def worker_findings(found: bytes) -> list[tuple[int, list[Finding]]]:
    """The findings of an ``answered`` frame, opened and validated:
    ``(ticket, findings)``; ValueError (or FormatError) when malformed."""
    document = unpack(found)
    if type(document) is not list:
        raise ValueError("the findings of an answer are not a list")
    answers: list[tuple[int, list[Finding]]] = []
    for item in document:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not int:
            raise ValueError("an answer is not [ticket, findings]")
        if type(item[1]) is not list:
            raise ValueError("an answer's findings are not a list")
        answers.append((item[0], [Finding.from_dict(entry) for entry in item[1]]))
    return answers


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


__all__ = ["Answered", "RecognitionWorker", "worker_findings"]
