"""Collects sealed blobs into packs, uploads them, and records them in index files.

Order of writes: a pack is uploaded, then written into an index file (periodically
and on flush), and only then added to the in-memory master index and announced to
``on_indexed`` listeners. A process killed at any point leaves only complete packs
(perhaps not yet indexed: harmless, found by check, removed by prune) and complete
index files; nothing outside this session (an agent's dedup cache, a later reader of
the master index) ever learns of a pack no index file lists. Until then the writer
dedups against its blobs through its own in-memory pending set only.

Before each index file is written, ``before_index`` (the writer's guard: its lock is
still valid and the packs it is about to list still exist) is called; if it raises,
nothing is written and the packer fails.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from keyark.backends.base import Backend
from keyark.crypto.envelope import ObjectKind, Sealer
from keyark.repo.index import MasterIndex, PackRecord, encode_index
from keyark.repo.pack import DATA, TREE, PackBuilder, pack_name

INDEX_PACKS_PER_FILE = 16
#: Write-only agents index after every pack: a killed run's packs stay reusable.
AGENT_PACKS_PER_FILE = 1
INDEX_INTERVAL_SECONDS = 30.0


class Packer:
    """Thread-safe pack assembly and upload for one repository session."""

    def __init__(
        self,
        backend: Backend,
        index: MasterIndex,
        sealer: Callable[[], Sealer],
        pack_size: int,
        on_uploaded: Callable[[PackRecord], None] | None = None,
        *,
        trusted: bool = True,
        on_indexed: Callable[[list[PackRecord]], None] | None = None,
        before_index: Callable[[list[PackRecord]], None] | None = None,
        packs_per_index: int = INDEX_PACKS_PER_FILE,
    ) -> None:
        """``trusted``: whether this writer seals with a keyring data key (not an agent).

        ``on_uploaded`` hears of each pack once stored (not yet indexed: use it only
        to count or collect); ``on_indexed`` hears of packs once an index file lists
        them (only these may be remembered for dedup beyond this session);
        ``before_index`` is called with the records right before their index file is
        written and aborts the write by raising; ``packs_per_index`` packs are
        collected per index file (fewer on flush or after the interval).
        """
        self._backend = backend
        self._trusted = trusted
        self._index = index
        self._sealer = sealer
        self._pack_size = pack_size
        self._on_uploaded = on_uploaded
        self._on_indexed = on_indexed
        self._before_index = before_index
        self._packs_per_index = max(1, packs_per_index)
        #: Packs stored since the last :meth:`take_unverified` (checked before a snapshot).
        self._unverified: list[PackRecord] = []
        self._builders = {DATA: PackBuilder(DATA), TREE: PackBuilder(TREE)}
        self._lock = threading.Lock()
        connections = max(1, backend.capabilities().connections)
        self._uploads = ThreadPoolExecutor(connections, thread_name_prefix="keyark-upload")
        # Each finished pack waiting for upload is held in memory: one per connection.
        self._in_flight = threading.BoundedSemaphore(connections)
        self._futures: list[Future[None]] = []
        self._error: BaseException | None = None
        self._unsaved: list[PackRecord] = []
        self._index_lock = threading.Lock()
        self._last_index_write = time.monotonic()
        self.packs_written = 0
        self.bytes_uploaded = 0
        self.index_files: list[str] = []

    def add(
        self, kind: int, blob_id: bytes, sealed: bytes, raw_length: int, compression: int
    ) -> None:
        """Queue a blob sealed bare (``Sealer.seal_bare``) with the key the pack header
        gets; may block while earlier packs upload."""
        self._raise_if_failed()
        full: PackBuilder | None = None
        with self._lock:
            builder = self._builders[kind]
            builder.add(blob_id, sealed, raw_length, compression)
            if builder.size >= self._pack_size:
                full = builder
                self._builders[kind] = PackBuilder(kind)
        if full is not None:
            self._ship(full)

    def _ship(self, builder: PackBuilder) -> None:
        sealer = self._sealer()
        pack_id, data = builder.finish(sealer)
        record = PackRecord(pack_id, len(data), builder.entries, sealer.key.key_id, self._trusted)
        self._in_flight.acquire()
        try:
            future = self._uploads.submit(self._upload, record, data)
        except BaseException:
            self._in_flight.release()
            raise
        with self._lock:
            self._futures.append(future)

    def _upload(self, record: PackRecord, data: bytes) -> None:
        try:
            self._backend.put(pack_name(record.pack_id), data)
            with self._index_lock:
                self._unsaved.append(record)
                self._unverified.append(record)
                self.packs_written += 1
                self.bytes_uploaded += record.size
            if self._on_uploaded is not None:
                self._on_uploaded(record)
            self._maybe_write_index()
        except BaseException as error:
            self._error = self._error or error
            raise
        finally:
            self._in_flight.release()

    def _maybe_write_index(self, force: bool = False) -> None:
        with self._index_lock:
            due = len(self._unsaved) >= self._packs_per_index or (
                time.monotonic() - self._last_index_write > INDEX_INTERVAL_SECONDS
            )
            if not self._unsaved or not (force or due):
                return
            records = list(self._unsaved)
            if self._before_index is not None:
                self._before_index(records)
            name = write_index_file(self._backend, self._sealer(), records)
            del self._unsaved[: len(records)]
            self._last_index_write = time.monotonic()
            self.index_files.append(name)
            for record in records:
                self._index.add_pack(
                    record.pack_id, record.size, record.entries, record.key_id, record.trusted
                )
        if self._on_indexed is not None:
            self._on_indexed(records)

    @property
    def failed(self) -> bool:
        """Whether an upload or index write failed (every later add and flush raises)."""
        return self._error is not None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def flush(self) -> None:
        """Finish partial packs, wait for every upload, write the remaining index."""
        with self._lock:
            partial = [b for b in self._builders.values() if b.entries]
            self._builders = {DATA: PackBuilder(DATA), TREE: PackBuilder(TREE)}
        for builder in partial:
            self._ship(builder)
        self._wait()
        self._raise_if_failed()
        try:
            self._maybe_write_index(force=True)
        except BaseException as error:
            self._error = self._error or error
            raise

    def take_unverified(self) -> list[PackRecord]:
        """Packs stored since the last call (a writer checks they still exist before
        its snapshot names them)."""
        with self._index_lock:
            records, self._unverified = self._unverified, []
        return records

    def _wait(self) -> None:
        with self._lock:
            futures, self._futures = self._futures, []
        for future in futures:
            try:
                future.result()
            except BaseException as error:
                self._error = self._error or error

    def close(self) -> None:
        """Stop the upload pool (after :meth:`flush`, or to abandon work)."""
        self._uploads.shutdown(wait=True, cancel_futures=True)


def write_index_file(
    backend: Backend, sealer: Sealer, records: list[PackRecord], supersedes: Sequence[str] = ()
) -> str:
    """Seal and store one index file; return its object name."""
    sealed = sealer.seal(ObjectKind.INDEX, b"", encode_index(records, supersedes))
    name = f"index/{hashlib.sha256(sealed).hexdigest()}"
    backend.put(name, sealed)
    return name
