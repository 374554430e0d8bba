"""The blob store of a full-key session: index loading, pack headers and verified blob reads.

It is the :class:`~keyark.repo.blob_writer.BlobWriter` of a full-key session plus
everything that needs keys to read.

Trust (design D7): index records are trusted only when sealed by a full-key
writer for a pack sealed with a keyring data key; dedup uses trusted copies only;
every read verifies, and a copy that fails is skipped for the next candidate.
Blobs are stored bare in packs (design D8): the envelope prefix is rebuilt from
the pack's key id.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from keyark.compress import decompress
from keyark.crypto.envelope import ObjectKind, envelope_key_id
from keyark.errors import BackendError, Hint, IntegrityError
from keyark.repo.blob_writer import BlobWriter
from keyark.repo.config import BlobHasher
from keyark.repo.damage import load_damage, record_path
from keyark.repo.index import BlobLocation, PackRecord, decode_index
from keyark.repo.keys import KeyStore
from keyark.repo.lock_store import LockStore
from keyark.repo.pack import BLOB_KINDS, TRAILER_SIZE, PackEntry, header_span, parse_header
from keyark.repo.pack_store import PackStore
from keyark.repo.packer import INDEX_PACKS_PER_FILE
from keyark.repo.tree import Node, decode_tree

#: Bytes read from a pack's end in one request, hoping to hold its whole header.
HEADER_READ = 4096


class BlobStore(BlobWriter):
    """The master index and the blob reads and writes of a full-key session."""

    def __init__(
        self,
        packs: PackStore,
        locks: LockStore,
        keys: KeyStore,
        hasher: BlobHasher,
        pack_size: int,
    ) -> None:
        super().__init__(
            packs,
            locks,
            hasher,
            keys.current_sealer,
            pack_size,
            trusted=True,
            packs_per_index=INDEX_PACKS_PER_FILE,
        )
        self.keys = keys
        #: Index files the last :meth:`load_index` skipped (unreadable or malformed).
        self.index_problems: list[str] = []
        self._index_loaded = False

    # ----------------------------------------------------------------- index
    def load_index(self, *, reload: bool = False) -> None:
        """Read every index file (in parallel) into the master index.

        At most two files per connection are read and decoded ahead of the one being
        added, in listing order: decoded records cost several times what the master
        index keeps of them, so reading every file ahead would double the peak.
        """
        if self._index_loaded and not reload:
            return
        if reload:
            self.index.clear()  # in place: the packer holds this object
        names = self.packs.index_names()
        self.index_problems = []
        ahead = 2 * self.packs.connections
        with ThreadPoolExecutor(self.packs.connections) as pool:
            pending: deque[Future[list[PackRecord] | None]] = deque()
            for name in names:
                pending.append(pool.submit(self._index_file_or_none, name))
                while len(pending) > ahead:
                    self._add_records(pending.popleft().result())
            while pending:
                self._add_records(pending.popleft().result())
        self.index.mark_damaged(load_damage(record_path(self.keys.trust)))
        self._index_loaded = True

    def _index_file_or_none(self, name: str) -> list[PackRecord] | None:
        """One index file's records; a damaged or hostile one is skipped and reported."""
        try:
            return self.read_index_file(name)
        except IntegrityError as error:
            self.index_problems.append(f"{error}; skipped")
            return None

    def _add_records(self, records: list[PackRecord] | None) -> None:
        for record in records or ():
            self.add_record(record)

    def add_record(self, record: PackRecord) -> None:
        """Add one pack record (with its trust) to the master index."""
        self.index.add_pack(
            record.pack_id, record.size, record.entries, record.key_id, record.trusted
        )

    def read_index_file(self, name: str) -> list[PackRecord]:
        """Read, verify and parse one index file; set each record's trust (design D7).

        A record is trusted only when the index file is sealed with a keyring data
        key, its writer marked it trusted, and the pack's key is a keyring data key;
        an index file sealed with an agent session key yields only untrusted records.
        """
        data = self.packs.read_index_bytes(name)
        if not hmac.compare_digest(
            hashlib.sha256(data).hexdigest(), name.rsplit("/", maxsplit=1)[-1]
        ):
            raise IntegrityError(f"index file {name} does not match its name (corrupt)")
        try:
            key_id = envelope_key_id(data)
            records, _superseded = decode_index(self.keys.open_object(ObjectKind.INDEX, b"", data))
        except IntegrityError as error:
            raise IntegrityError(f"index file {name}: {error}") from None
        data_keys = self.keys.keyring.data_keys
        for record in records:
            record.trusted = record.trusted and key_id in data_keys and record.key_id in data_keys
        return records

    # ----------------------------------------------------------------- packs
    def pack_header(self, pack_id: bytes, size: int | None = None) -> tuple[list[PackEntry], bytes]:
        """Read and decrypt a pack's header: (entries, id of the key that sealed it)."""
        if size is None:
            size = self.packs.size(pack_id)
        start = max(0, size - HEADER_READ)
        tail = self.packs.read(pack_id, start, None)
        trailer = tail[-TRAILER_SIZE:] if len(tail) >= TRAILER_SIZE else b""
        offset, length = header_span(size, trailer)
        if offset >= start:
            sealed = tail[offset - start : offset - start + length]
        else:
            sealed = self.packs.read(pack_id, offset, length)
        if len(sealed) != length:
            raise IntegrityError(f"pack {pack_id.hex()[:16]} is truncated")
        key_id = envelope_key_id(sealed)
        return parse_header(self.keys.sealer_for(key_id), sealed), key_id

    def read_pack_header(self, pack_id: bytes, size: int | None = None) -> list[PackEntry]:
        """Read and decrypt the header at the end of a pack."""
        return self.pack_header(pack_id, size)[0]

    # ----------------------------------------------------------------- blobs
    def _open_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None
    ) -> tuple[bytes, bytes]:
        """(payload, plaintext) of one stored copy, verified against its id."""
        key = key_id or location.key_id or self.index.pack_key(location.pack_id)
        if not key:
            raise IntegrityError(f"pack {location.pack_id.hex()[:16]} has no recorded key id")
        payload = self.keys.sealer_for(key).open_bare(
            BLOB_KINDS[location.kind], location.blob_id, sealed
        )
        data = decompress(location.compression, payload, location.raw_length)
        if not hmac.compare_digest(self.hasher(data), location.blob_id):
            raise IntegrityError(f"blob {location.blob_id.hex()[:16]} does not match its id")
        return payload, data

    def decode_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None = None
    ) -> bytes:
        """Decrypt, decompress and verify one copy read from its pack (stored bare).

        ``key_id`` is the pack's key (default: the location's, else the index's).
        Raises :class:`IntegrityError` if this copy is bad.
        """
        return self._open_blob(location, sealed, key_id)[1]

    def reseal_blob(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None = None
    ) -> bytes:
        """Verify one stored copy and re-seal it (bare) under the current data key.

        This is adoption (design D7): prune's repacking and ``rotate --reencrypt``
        move blobs this way, so what they write is verified and trusted.
        """
        payload, _data = self._open_blob(location, sealed, key_id)
        return self.current_sealer().seal_bare(BLOB_KINDS[location.kind], location.blob_id, payload)

    def read_copy(self, location: BlobLocation) -> bytes:
        """Read and verify one stored copy of a blob."""
        sealed = self.packs.read(location.pack_id, location.offset, location.length)
        if len(sealed) != location.length:
            raise IntegrityError(f"pack {location.pack_id.hex()[:16]} is truncated")
        return self.decode_blob(location, sealed)

    def load_blob(self, blob_id: bytes) -> bytes:
        """Load a blob from the first copy that verifies (trusted copies first).

        A planted or damaged copy is skipped; :class:`IntegrityError` names the blob
        only when no copy verifies.
        """
        candidates = self.index.candidates(blob_id)
        if not candidates:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} is not in the index")
        return self._first_good(blob_id, candidates)

    def decode_or_fetch(self, location: BlobLocation, sealed: bytes | memoryview) -> bytes:
        """Decode ``sealed`` (the copy at ``location``); if it is bad, load another copy."""
        try:
            return self.decode_blob(location, sealed)
        except IntegrityError as error:
            others = [
                c
                for c in self.index.candidates(location.blob_id)
                if (c.pack_id, c.offset) != (location.pack_id, location.offset)
            ]
            if not others:
                raise
            return self._first_good(location.blob_id, others, str(error))

    def _first_good(self, blob_id: bytes, candidates: list[BlobLocation], error: str = "") -> bytes:
        for location in candidates:
            try:
                return self.read_copy(location)
            except (IntegrityError, BackendError) as failure:
                error = str(failure)
        count = len(candidates)
        raise IntegrityError(
            f"blob {blob_id.hex()[:16]}: none of its {count} stored copies verifies "
            f"(last: {error})",
            hint=Hint.CHECK_DATA,
        )

    def load_tree(self, tree_id: bytes) -> list[Node]:
        """Load and parse a tree blob (a :class:`FormatError` names a malformed one)."""
        return decode_tree(self.load_blob(tree_id), tree_id)


__all__ = ["BlobStore"]
