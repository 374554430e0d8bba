"""The write path of blobs: dedup, compress, seal, pack, upload, index.

Both kinds of session write through a :class:`BlobWriter`: a full-key session
(whose :class:`~keyark.repo.blob_store.BlobStore` adds the reads) and a
write-only agent (:mod:`keyark.repo.agent_session`), which differ only in what
they are built with: the agent's packs are untrusted and indexed after every
pack (so a killed run's packs stay reusable through its cache).

Dedup (design D7) counts trusted copies and the blobs this session is writing;
untrusted (agent-written) copies never satisfy it.

Writes are guarded (issue 9): before each index file and each snapshot,
:meth:`BlobWriter.ensure_writable` checks that every lock this session holds is
still valid (a writer paused past its lock's expiry may have had its packs pruned)
and that the packs this session stored since the last check still exist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from keyark.compress import CompressionSpec, Compressor
from keyark.crypto.envelope import Sealer
from keyark.errors import IntegrityError
from keyark.repo.config import BlobHasher
from keyark.repo.index import MasterIndex, PackRecord
from keyark.repo.lock_store import LockStore
from keyark.repo.pack import BLOB_KINDS, TREE
from keyark.repo.pack_store import PackStore
from keyark.repo.packer import Packer
from keyark.repo.tree import Node, encode_tree


class BlobWriter:
    """Saves blobs into packs for one session (thread-safe)."""

    def __init__(
        self,
        packs: PackStore,
        locks: LockStore,
        hasher: BlobHasher,
        sealer: Callable[[], Sealer],
        pack_size: int,
        *,
        trusted: bool,
        packs_per_index: int,
    ) -> None:
        """``trusted``: whether this writer seals with a keyring data key (not an agent);
        ``packs_per_index``: packs listed per index file the packer writes."""
        self.packs = packs
        self.locks = locks
        self.hasher = hasher
        self.current_sealer = sealer
        self.pack_size = pack_size
        self.trusted = trusted
        self.packs_per_index = packs_per_index
        #: Every blob this session knows of (what it dedups against).
        self.index = MasterIndex()
        self.compressor = Compressor(CompressionSpec())
        #: Called with every pack this session stored, once an index file lists it (agents
        #: record them in their dedup cache: never a pack no index lists).
        self.pack_listeners: list[Callable[[PackRecord], None]] = []
        self._pending: set[bytes] = set()
        self._dedup_lock = threading.Lock()
        self._packer: Packer | None = None

    def set_compression(self, spec: CompressionSpec) -> None:
        """Compress the blobs saved from now on with ``spec``."""
        self.compressor = Compressor(spec)

    def packer(self) -> Packer:
        """This session's packer (made on first use)."""
        if self._packer is None:
            self._packer = self.packs.packer(
                self.index,
                self.current_sealer,
                self.pack_size,
                trusted=self.trusted,
                on_indexed=self._packs_indexed,
                before_index=self._before_index,
                packs_per_index=self.packs_per_index,
            )
        return self._packer

    def _before_index(self, records: list[PackRecord]) -> None:
        self.ensure_writable(records, "nothing was saved")

    def _packs_indexed(self, records: list[PackRecord]) -> None:
        for record in records:
            for listener in self.pack_listeners:
                listener(record)

    # ----------------------------------------------------------------- saving
    def has_blob(self, blob_id: bytes) -> bool:
        """Whether a trusted copy exists (or is being written by this session).

        Untrusted (agent-written) copies never satisfy dedup (design D7).
        """
        return self.index.has_trusted(blob_id) or blob_id in self._pending

    def save_blob(self, kind: int, data: bytes | memoryview) -> tuple[bytes, int]:
        """Store a blob unless a trusted copy is known; return (blob id, bytes added)."""
        blob_id = self.hasher(data)
        with self._dedup_lock:
            if self.index.has_trusted(blob_id) or blob_id in self._pending:
                return blob_id, 0
            self._pending.add(blob_id)
        algorithm, payload = self.compressor.compress(data)
        sealed = self.current_sealer().seal_bare(BLOB_KINDS[kind], blob_id, payload)
        self.packer().add(kind, blob_id, sealed, len(data), int(algorithm))
        return blob_id, len(sealed)

    def save_tree(self, nodes: list[Node]) -> tuple[bytes, int]:
        """Store a directory listing as a tree blob; return (tree id, bytes added)."""
        return self.save_blob(TREE, encode_tree(nodes))

    def flush(self) -> None:
        """Make every saved blob durable and indexed.

        If anything fails (an upload, an index write, the write guard), the error is
        raised and this session forgets every blob it had not indexed and starts a
        fresh packer: no later save in this session dedups against a blob whose pack
        never became durable and indexed.
        """
        if self._packer is not None:
            try:
                self._packer.flush()
            except BaseException:
                self._abandon_writes()
                raise
        with self._dedup_lock:
            self._pending = {b for b in self._pending if not self.index.has_trusted(b)}

    def discard_failed_writes(self) -> None:
        """Start afresh if an earlier write of this session failed (a new operation begins).

        The failed packer stays in place until then, so the operation it failed in
        cannot save a snapshot (every later add and flush raises).
        """
        if self._packer is not None and self._packer.failed:
            self._abandon_writes()

    def _abandon_writes(self) -> None:
        """Forget unindexed blobs and the failed packer (after a failed write)."""
        packer, self._packer = self._packer, None
        with self._dedup_lock:
            self._pending = set()
        if packer is not None:
            packer.close()

    def close(self) -> None:
        """Stop the packer's uploads (after :meth:`flush`, or to abandon work)."""
        packer, self._packer = self._packer, None
        if packer is not None:
            packer.close()

    # ----------------------------------------------------------------- the write guard
    def ensure_writable(self, records: list[PackRecord], consequence: str) -> None:
        """Raise unless this session may still write what refers to ``records``.

        Every lock this session holds must still be valid (a :class:`LockError` if it
        was lost, e.g. the process was paused past its expiry) and every pack in
        ``records`` must still be stored with its size (an :class:`IntegrityError`
        naming it otherwise). ``consequence`` says what was not written.
        """
        self.locks.ensure_valid(consequence)
        if not records:
            return
        workers = max(1, min(len(records), self.packs.connections))
        with ThreadPoolExecutor(workers, thread_name_prefix="keyark-verify") as pool:
            stored = list(pool.map(self.packs.holds, records))
        missing = [r for r, ok in zip(records, stored, strict=True) if not ok]
        if missing:
            raise IntegrityError(
                f"{len(missing)} pack(s) this session stored are gone or changed "
                f"(pack {missing[0].pack_id.hex()[:16]}), deleted while it was paused or "
                f"by another command; {consequence}; run it again"
            )

    def ensure_packs_durable(self, consequence: str) -> None:
        """Before a snapshot: the write guard over every pack stored since the last one."""
        records = self._packer.take_unverified() if self._packer is not None else []
        self.ensure_writable(records, consequence)


__all__ = ["BlobWriter"]
