"""Reading the files of a backup: opened relative to their directory, stored as blobs.

Small files are read on the walking thread (a hand-off would cost more than the
read); larger ones by a bounded pool of workers, their chunks hashed,
compressed and sealed by a second pool so one big file uses every core. Memory
stays bounded by the semaphores on in-flight files and chunks.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from keyark.archiver import walk
from keyark.archiver.inventory import HeadCapture, InventoryRecorder
from keyark.archiver.progress import Tracker
from keyark.archiver.sizes import Added, SizedStore
from keyark.chunker import ChunkerParams
from keyark.errors import SourceError
from keyark.inventory.candidates import MAX_CANDIDATE_SIZE
from keyark.repo.objects import ContentWriter, Store, StoredContent, StreamReadError

SMALL_FILE = 256 * 1024
FILE_WORKERS = 1


@dataclass
class FileResult:
    """What reading one file gave: content ids and counts, or why it was not read."""

    content: list[bytes]
    #: The length of the content read, which the node records as the file's size.
    bytes_read: int
    bytes_added: int
    new_blobs: int
    error: str | None = None
    #: The file changed during the backup and was skipped (a warning, not an error).
    skipped: str | None = None
    #: The plain size of the new blobs (``bytes_added`` is what they take in storage).
    data_added: int = 0
    #: How long reading and storing the file took.
    seconds: float = 0.0
    #: Its ticket with the inventory recorder (None: not a candidate, or no inventory).
    inventory_ticket: int | None = None


class FileReader:
    """Opens listed files (still the ones listed) and stores their content."""

    def __init__(
        self,
        store: SizedStore,
        chunker: ChunkerParams,
        tracker: Tracker,
        inventory: InventoryRecorder | None = None,
    ) -> None:
        self._store = store
        #: Records key material from the bytes read (None: no inventory).
        self.inventory = inventory
        self._chunker_params = chunker
        self.tracker = tracker
        self._file_pool = ThreadPoolExecutor(FILE_WORKERS, thread_name_prefix="keyark-read")
        self._chunk_pool = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="keyark-blob")
        self._file_slots = threading.BoundedSemaphore(FILE_WORKERS * 4)

    def _writer(self, path: str, store: Store, *, large: bool) -> ContentWriter:
        """A writer for the file ``path``: its stored chunks count as bytes done."""

        def stored(length: int) -> None:
            self.tracker.add(0, length, path)

        def checked(kind: int, data: bytes | memoryview) -> tuple[bytes, int, bool]:
            self.tracker.check()  # a large file's chunk is stored on a worker: a checkpoint
            return store(kind, data)

        return ContentWriter(
            checked if large else store,
            self._chunker_params,
            whole_below=SMALL_FILE,
            pool=self._chunk_pool,
            on_chunk=stored,
            cancel=self.tracker.cancel,
        )

    def _read(self, path: str, fd: int, size: int, st: os.stat_result) -> FileResult:
        """Read and store the open file ``fd`` (of ``size`` bytes when opened); closes it."""
        started = time.monotonic()
        try:
            if size < SMALL_FILE:
                store, added = self._store.for_item()
                writer = self._writer(path, store, large=False)
                data = _read_all(fd, size)
                result = _result(writer.write(data), added)
                if self.inventory is not None:
                    result.inventory_ticket = self.inventory.inspect(path, data, st)
            else:
                result = self._read_large(path, fd, size, st)
        except OSError as error:
            return FileResult([], 0, 0, 0, f"{path}: {error.strerror}")
        finally:
            os.close(fd)
        result.seconds = time.monotonic() - started
        return result

    def _read_large(self, path: str, fd: int, size: int, st: os.stat_result) -> FileResult:
        """Chunk the descriptor we opened (not whatever the path names by now)."""
        store, added = self._store.for_item()
        try:
            with os.fdopen(os.dup(fd), "rb", buffering=0) as stream:
                if self.inventory is None or size > MAX_CANDIDATE_SIZE:
                    return _result(
                        self._writer(path, store, large=True).write_stream(stream), added
                    )
                # It may be a candidate: its bytes are kept as they are read (no reopen).
                capture = HeadCapture(stream, MAX_CANDIDATE_SIZE + 1)
                writer = self._writer(path, store, large=True)
                result = _result(writer.write_stream(capture), added)  # type: ignore[arg-type]
                result.inventory_ticket = self.inventory.inspect(
                    path, capture.head, st, size=result.bytes_read
                )
                return result
        except StreamReadError as error:
            return FileResult([], error.bytes_read, 0, 0, f"{path}: {error.cause.strerror}")

    def submit(self, dir_fd: int, name: str, path: str, st: os.stat_result) -> Future[FileResult]:
        """Open file ``name`` below ``dir_fd`` (still the one listed as ``st``) and read it."""
        small = st.st_size < SMALL_FILE
        if not small:
            self._file_slots.acquire()
        try:
            fd, size = walk.open_file(dir_fd, name, st, path)
        except (SourceError, OSError) as error:
            if not small:
                self._file_slots.release()
            failed: Future[FileResult] = Future()
            if isinstance(error, SourceError):
                failed.set_result(FileResult([], 0, 0, 0, skipped=str(error)))
            else:
                failed.set_result(FileResult([], 0, 0, 0, f"{path}: {error.strerror}"))
            self.tracker.add(1, 0, path)
            return failed
        if small:
            # Small files are read on the walking thread: a hand-off to a worker costs
            # more (GIL contention) than the read itself.
            done: Future[FileResult] = Future()
            done.set_result(self._read(path, fd, size, st))
            self.tracker.add(1, 0, path)
            return done

        def job() -> FileResult:
            try:
                result = self._read(path, fd, size, st)
                self.tracker.add(1, 0, path)
                return result
            finally:
                self._file_slots.release()

        return self._file_pool.submit(job)

    def read_stream(self, path: str, stream: BinaryIO) -> FileResult:
        """Store ``stream`` to its end as the content of the file ``path``.

        Raises :class:`SourceError` when reading it fails.
        """
        started = time.monotonic()
        store, added = self._store.for_item()
        try:
            result = _result(self._writer(path, store, large=True).write_stream(stream), added)
        except StreamReadError as error:
            raise SourceError(f"{path}: {error.cause.strerror}; nothing was saved") from None
        self.tracker.add(1, 0, path)
        result.seconds = time.monotonic() - started
        return result

    def shutdown(self) -> None:
        """Wait for every file and chunk in flight."""
        self._file_pool.shutdown(wait=True)
        self._chunk_pool.shutdown(wait=True)


def _result(content: StoredContent, added: Added) -> FileResult:
    return FileResult(
        content.blob_ids,
        content.bytes_read,
        content.bytes_added,
        content.new_blobs,
        data_added=added.plain,
    )


def _read_all(fd: int, expected: int) -> bytes:
    parts: list[bytes] = []
    size = max(expected, 0) + 1
    while True:
        part = os.read(fd, max(size, 65536))
        if not part:
            break
        parts.append(part)
    return b"".join(parts)


__all__ = ["FileReader", "FileResult"]
