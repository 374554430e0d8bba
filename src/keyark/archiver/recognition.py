"""The backup's side of the recognition worker (:mod:`keyark.inventory.worker`).

One child process per backup, started with :func:`keyark.redaction.child_environment`
(no keyark secret), fed batches of candidates over its standard input by a writer
thread, its answers read by a reader thread and validated with
:meth:`Finding.from_dict` (the child is not trusted more than storage). Everything
here is best effort: a worker that cannot start, stops or answers nonsense is
reported through :attr:`RecognitionWorker.failed`, and the recorder parses inline
whatever it did not answer.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from keyark.inventory.finding import Finding
from keyark.inventory.worker import encode_frame, read_frame
from keyark.redaction import child_environment

#: A batch is sent once it holds this many files or bytes.
BATCH_FILES = 512
BATCH_BYTES = 4 << 20

#: What the recorder is told of each answer: ticket, findings (None: the worker failed
#: on that file, with the error's name).
Answer = Callable[[int, list[Finding] | None, str | None], None]


class RecognitionWorker:
    """A running worker process and the two threads that talk to it."""

    def __init__(self, on_answer: Answer) -> None:
        self._on_answer = on_answer
        self.process = subprocess.Popen(
            [sys.executable, "-B", "-m", "keyark.inventory.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=child_environment(),
            close_fds=True,
        )
        #: Why the worker stopped answering before its input ended (None: it did not).
        self.failed: str | None = None
        self._closing = False
        self._batch: list[list[Any]] = []
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

    def send(self, ticket: int, path: bytes, mode: int | None, uid: int | None,
             gid: int | None, data: bytes) -> None:  # fmt: skip
        """Queue one candidate (sent with its batch)."""
        self._batch.append([ticket, path, mode, uid, gid, data])
        self._batch_bytes += len(data)
        if len(self._batch) >= BATCH_FILES or self._batch_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send the batch being filled."""
        if self._batch:
            self._frames.put(encode_frame(self._batch))
            self._batch = []
            self._batch_bytes = 0

    def close_input(self) -> None:
        """Send what is queued and end the worker's input: it exits when it has answered."""
        if not self._closing:
            self.flush()
            self._closing = True
            self._frames.put(None)

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the last answer; whether it came."""
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
                for ticket, findings, error in _answers(document):
                    self._on_answer(ticket, findings, error)
        except Exception as error:  # a malformed answer: the rest is parsed inline
            self.failed = f"it answered malformed data ({type(error).__name__})"
        else:
            if self.process.wait() != 0 and self.failed is None:
                self.failed = f"it exited with status {self.process.returncode}"
        finally:
            if self.failed is None and not self._closing:
                self.failed = "it exited before its input ended"
            self._done.set()


def _answers(document: object) -> list[tuple[int, list[Finding] | None, str | None]]:
    """The answers of one frame, validated: (ticket, findings, error)."""
    if not isinstance(document, list):
        raise ValueError("an answer frame is not a list")
    answers: list[tuple[int, list[Finding] | None, str | None]] = []
    for item in document:
        if not isinstance(item, list) or len(item) != 3 or type(item[0]) is not int:
            raise ValueError("an answer is not [ticket, findings, error]")
        ticket, raw, error = item
        if raw is None:
            answers.append((ticket, None, str(error)[:64]))
        elif isinstance(raw, list):
            answers.append((ticket, [Finding.from_dict(entry) for entry in raw], None))
        else:
            raise ValueError("an answer's findings are not a list")
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


__all__ = ["RecognitionWorker"]
