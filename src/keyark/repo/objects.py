"""The object layer: file content as data blobs, and data blobs as a readable stream.

Writing (the archiver, ``copy``): :class:`ContentWriter` turns a stream into data
blobs: content shorter than ``whole_below`` is one blob, longer content is cut by
the repository's content-defined chunker; every chunk is deduplicated and saved
through a :data:`Store` (:func:`saving`, or :class:`DryRun` which only looks up),
optionally on a worker pool with a bounded number of chunks in flight.

Reading (``dump``, ``copy``, restore verification): :class:`BlobReader` /
:func:`open_blobs` read a list of blobs in order as one stream, each blob through
the verified read path (trusted copies first, a bad copy skipped for the next);
:func:`content_length` and :func:`stream_matches` measure and check content
without reading it from the repository.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import BinaryIO

from keyark.cancel import NEVER, CancelToken
from keyark.chunker import Chunker, ChunkerParams
from keyark.repo.blob_store import BlobStore
from keyark.repo.blob_writer import BlobWriter
from keyark.repo.index import MasterIndex
from keyark.repo.pack import DATA

#: Stores a blob: (kind, data) -> (blob id, bytes added to storage, whether it is new).
Store = Callable[[int, bytes | memoryview], tuple[bytes, int, bool]]
#: Chunks of one stream being sealed at the same time (each held in memory).
CHUNKS_IN_FLIGHT = 4


def saving(blobs: BlobWriter) -> Store:
    """The store that saves through ``blobs`` (deduplicated against trusted copies)."""

    def store(kind: int, data: bytes | memoryview) -> tuple[bytes, int, bool]:
        blob_id, added = blobs.save_blob(kind, data)
        return blob_id, added, added > 0

    return store


class DryRun:
    """A store that saves nothing: it hashes, and counts as new what a save would add."""

    def __init__(self, blobs: BlobWriter) -> None:
        self._blobs = blobs
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def __call__(self, kind: int, data: bytes | memoryview) -> tuple[bytes, int, bool]:
        blob_id = self._blobs.hasher(data)
        with self._lock:
            new = not self._blobs.has_blob(blob_id) and blob_id not in self._seen
            self._seen.add(blob_id)
        return blob_id, len(data) if new else 0, new


@dataclass
class StoredContent:
    """What writing one stream gave: its blob ids, in order, and the counts."""

    blob_ids: list[bytes]
    bytes_read: int = 0
    bytes_added: int = 0
    new_blobs: int = 0

    def add(self, blob_id: bytes, length: int, added: int, new: bool) -> None:
        """Record one more blob of the stream (``length`` bytes read, ``added`` stored)."""
        self.blob_ids.append(blob_id)
        self.bytes_read += length
        self.bytes_added += added
        self.new_blobs += int(new)


class StreamReadError(Exception):
    """Reading the content stream failed part way (``cause``: the OSError)."""

    def __init__(self, cause: OSError, bytes_read: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.bytes_read = bytes_read


class ContentWriter:
    """Writes content streams as data blobs (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        params: ChunkerParams,
        *,
        whole_below: int,
        pool: Executor | None = None,
        on_chunk: Callable[[int], None] | None = None,
        cancel: CancelToken = NEVER,
    ) -> None:
        """``whole_below``: content shorter than this is one blob; ``pool`` seals chunks
        in parallel; ``on_chunk(length)`` hears of each chunk once stored."""
        self._store = store
        self._params = params
        self._whole_below = whole_below
        self._pool = pool
        self._on_chunk = on_chunk
        self._cancel = cancel
        self._local = threading.local()

    @property
    def params(self) -> ChunkerParams:
        """The chunker parameters content is cut with."""
        return self._params

    def _chunker(self) -> Chunker:
        chunker: Chunker | None = getattr(self._local, "chunker", None)
        if chunker is None:
            chunker = self._local.chunker = Chunker(self._params)
        return chunker

    def _save(self, data: bytes | memoryview) -> tuple[bytes, int, bool]:
        result = self._store(DATA, data)
        if self._on_chunk is not None:
            self._on_chunk(len(data))
        return result

    def write(self, data: bytes | memoryview) -> StoredContent:
        """Content held in memory as one blob (none for empty content)."""
        content = StoredContent([])
        if data:
            blob_id, added, new = self._save(data)
            content.add(blob_id, len(data), added, new)
        return content

    def write_stream(self, stream: BinaryIO, size: int | None = None) -> StoredContent:
        """Chunk, deduplicate and save ``stream`` to its end.

        ``size`` (when known) below ``whole_below`` reads it whole as one blob. A read
        error raises :class:`StreamReadError` once the chunks in flight are settled.
        """
        if size is not None and size < self._whole_below:
            try:
                data = stream.read()
            except OSError as error:
                raise StreamReadError(error, 0) from error
            return self.write(data)
        slots = threading.BoundedSemaphore(CHUNKS_IN_FLIGHT)
        pending: list[tuple[int, Future[tuple[bytes, int, bool]]]] = []
        content = StoredContent([])
        read = 0

        def save(chunk: bytes) -> tuple[bytes, int, bool]:
            try:
                return self._save(chunk)
            finally:
                slots.release()

        try:
            for chunk in self._chunker().stream_chunks(stream):
                self._cancel.check()
                read += len(chunk)
                if self._pool is None:
                    content.add(*_with_length(self._save(chunk), len(chunk)))
                    continue
                slots.acquire()
                pending.append((len(chunk), self._pool.submit(save, chunk)))
        except OSError as error:
            for _length, future in pending:
                future.cancel()
            raise StreamReadError(error, read) from error
        except BaseException:
            for _length, future in pending:
                future.cancel()
            raise
        for length, future in pending:
            content.add(*_with_length(future.result(), length))
        return content


def _with_length(result: tuple[bytes, int, bool], length: int) -> tuple[bytes, int, int, bool]:
    blob_id, added, new = result
    return blob_id, length, added, new


class BlobReader(io.RawIOBase):
    """The content of a list of blobs, in order, as a raw readable stream."""

    def __init__(self, load: Callable[[bytes], bytes], blob_ids: Iterable[bytes]) -> None:
        """``load`` reads one verified blob (:meth:`BlobStore.load_blob`)."""
        self._load = load
        self._blobs = list(reversed(list(blob_ids)))
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and self._blobs:
            self._buffer = memoryview(self._load(self._blobs.pop()))
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def open_blobs(blobs: BlobStore, blob_ids: Iterable[bytes]) -> io.BufferedReader:
    """A buffered stream of the blobs' content, each blob verified as it is read."""
    return io.BufferedReader(BlobReader(blobs.load_blob, blob_ids))


def write_blobs(blobs: BlobStore, blob_ids: Iterable[bytes], out: BinaryIO) -> int:
    """Write the blobs' content to ``out`` in order (one blob in memory at a time); bytes."""
    written = 0
    for blob_id in blob_ids:
        data = blobs.load_blob(blob_id)
        out.write(data)
        written += len(data)
    return written


def content_length(index: MasterIndex, blob_ids: Sequence[bytes]) -> int | None:
    """The summed plaintext length of the blobs (None if one is not in the index)."""
    total = 0
    for blob_id in blob_ids:
        length = index.raw_length(blob_id)
        if length is None:
            return None
        total += length
    return total


def stream_matches(blobs: BlobWriter, handle: BinaryIO, blob_ids: Sequence[bytes]) -> int | None:
    """The stream's length if it holds exactly the blobs' content, in order; else None.

    Each piece is hashed with the repository's blob hasher (nothing is read from the
    repository); the stream must end right after the last blob.
    """
    total = 0
    for blob_id in blob_ids:
        length = blobs.index.raw_length(blob_id)
        if length is None or blobs.hasher(handle.read(length)) != blob_id:
            return None
        total += length
    return total if handle.read(1) == b"" else None


__all__ = [
    "CHUNKS_IN_FLIGHT",
    "BlobReader",
    "ContentWriter",
    "DryRun",
    "Store",
    "StoredContent",
    "StreamReadError",
    "content_length",
    "open_blobs",
    "saving",
    "stream_matches",
    "write_blobs",
]
