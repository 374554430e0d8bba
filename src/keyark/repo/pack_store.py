"""The pack store: the stored objects under ``data/`` (packs) and ``index/`` (index files).

Keyless storage operations only: listing, reading (whole or a byte range),
checking and deleting packs; listing, reading, writing and deleting index files;
the key id an object's envelope names. Opening what they hold (pack headers,
blobs, index records and their trust) is the blob store's job
(:mod:`keyark.repo.blob_store`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from keyark.backends.base import Backend
from keyark.crypto.envelope import Sealer, envelope_key_id
from keyark.errors import NotFoundError
from keyark.repo.index import MasterIndex, PackRecord
from keyark.repo.pack import pack_id_from_name, pack_name
from keyark.repo.packer import INDEX_PACKS_PER_FILE, Packer, write_index_file

PACK_PREFIX = "data/"
INDEX_PREFIX = "index/"
#: Enough of an envelope to hold its key id.
ENVELOPE_HEAD = 64


def object_key_id(backend: Backend, name: str) -> bytes:
    """The key id the envelope of stored object ``name`` names (read from its head).

    Raises :class:`~keyark.errors.FormatError` for an object that is not an envelope
    and a backend error if it cannot be read.
    """
    return envelope_key_id(backend.get(name, 0, ENVELOPE_HEAD))


class PackStore:
    """Packs and index files in storage; ``sealer`` seals the index files this session writes."""

    def __init__(self, backend: Backend, sealer: Callable[[], Sealer]) -> None:
        self._backend = backend
        self._sealer = sealer

    @property
    def connections(self) -> int:
        """How many requests the storage serves in parallel."""
        return max(1, self._backend.capabilities().connections)

    # ----------------------------------------------------------------- packs
    def packer(
        self,
        index: MasterIndex,
        sealer: Callable[[], Sealer],
        pack_size: int,
        *,
        trusted: bool = True,
        on_uploaded: Callable[[PackRecord], None] | None = None,
        on_indexed: Callable[[list[PackRecord]], None] | None = None,
        before_index: Callable[[list[PackRecord]], None] | None = None,
        packs_per_index: int = INDEX_PACKS_PER_FILE,
    ) -> Packer:
        """A packer uploading into this store (see :class:`~keyark.repo.packer.Packer`)."""
        return Packer(
            self._backend,
            index,
            sealer,
            pack_size,
            on_uploaded,
            trusted=trusted,
            on_indexed=on_indexed,
            before_index=before_index,
            packs_per_index=packs_per_index,
        )

    def names(self) -> Iterator[tuple[str, int]]:
        """(name, size) of every object under ``data/`` (a stray non-pack name included)."""
        for info in self._backend.list(PACK_PREFIX):
            yield info.name, info.size

    def stored(self) -> dict[bytes, int]:
        """Pack id -> size of every stored pack (objects that are not packs skipped)."""
        found: dict[bytes, int] = {}
        for name, size in self.names():
            pack_id = pack_id_from_name(name)
            if pack_id is not None:
                found[pack_id] = size
        return found

    def read(self, pack_id: bytes, offset: int = 0, length: int | None = None) -> bytes:
        """A pack's bytes: all of it, or ``length`` bytes from ``offset`` (None: to the end)."""
        if offset == 0 and length is None:
            return self._backend.get(pack_name(pack_id))
        return self._backend.get(pack_name(pack_id), offset, length)

    def size(self, pack_id: bytes) -> int:
        """The stored size of a pack (:class:`~keyark.errors.NotFoundError` if it is gone)."""
        return self._backend.stat(pack_name(pack_id)).size

    def holds(self, record: PackRecord) -> bool:
        """Whether the pack ``record`` names is stored with the size it records."""
        try:
            return self.size(record.pack_id) == record.size
        except NotFoundError:
            return False

    def delete(self, pack_id: bytes) -> None:
        """Delete one pack (errors, :class:`~keyark.errors.NotFoundError` included, raised)."""
        self._backend.delete(pack_name(pack_id))

    # ----------------------------------------------------------------- index files
    def index_names(self) -> list[str]:
        """The object names of every index file."""
        return [info.name for info in self._backend.list(INDEX_PREFIX)]

    def read_index_bytes(self, name: str) -> bytes:
        """The sealed bytes of one index file (not verified: the blob store verifies)."""
        return self._backend.get(name)

    def index_key_id(self, name: str) -> bytes:
        """The key id that sealed index file ``name`` (read from its envelope's head)."""
        return object_key_id(self._backend, name)

    def write_index(
        self,
        records: list[PackRecord],
        supersedes: Sequence[str] = (),
        sealer: Sealer | None = None,
    ) -> str:
        """Seal (with the current key unless ``sealer``) and store one index file; its name."""
        return write_index_file(self._backend, sealer or self._sealer(), records, supersedes)

    def delete_index(self, name: str) -> None:
        """Delete one index file (errors, a missing file's included, raised)."""
        if not name.startswith(INDEX_PREFIX):
            raise ValueError(f"{name!r} is not an index file")
        self._backend.delete(name)


__all__ = ["ENVELOPE_HEAD", "INDEX_PREFIX", "PACK_PREFIX", "PackStore", "object_key_id"]
