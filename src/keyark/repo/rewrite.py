"""Rewriting what the index lists: copy blobs, replace the index, delete objects.

Prune, ``key rotate --reencrypt`` and the repairs change which packs the index
lists. All of them follow one order, the only one that is safe when killed at any
point (first written down for prune, :mod:`keyark.maintenance.prune`):

1. **copy** (:class:`BlobCopier`): the blobs that must outlive the packs to be
   deleted are verified and re-sealed under the current data key into new packs
   (adoption, design D7: what is written is verified, so it is trusted). The new
   packs are durable and listed by the copier's own (interim) index files before
   anything else happens;
2. **replace the index** (:func:`rewrite_index`): a complete new index (the kept
   records plus the copies) is written and is durable (and, if asked, read back)
   before any old file goes. Only one new file names the old files it supersedes
   (as restic's does: naming them in every file makes the index grow as new x old
   files), and it is the last one written: the loader merges every file and obeys
   no superseded list, but even a reader that did would never drop an old file
   while a new file listing the same packs was still missing;
3. **delete** the old index files (interim ones included), then the packs no new
   index file lists, each phase only after ``guard()`` confirmed the exclusive
   lock is still valid; a cancel stops between two deletions;
4. reload the master index.

Killed or cancelled anywhere, every listed pack is stored and readable; running
the operation again finishes the job. Deletion failures never stop the sequence:
a missing object is skipped, a transient failure is warned about (a later run
deletes it), and a refused deletion (Object Lock retention, permissions) is
warned about and listed in :attr:`RewriteResult.refused`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from keyark.errors import BackendError, IntegrityError, NotFoundError, TransientBackendError
from keyark.events import Code, Events
from keyark.repo.index import BlobLocation, MasterIndex, PackRecord
from keyark.repo.keys import SESSION_PREFIX
from keyark.repo.pack import pack_id_from_name, pack_name
from keyark.repo.pack_store import INDEX_PREFIX
from keyark.repo.repository import Repository

#: Packs per index file a rewrite writes.
PACKS_PER_INDEX_FILE = 64


@dataclass
class Deletion:
    """What :func:`delete_objects` deleted, and what storage refused."""

    deleted: int = 0
    bytes: int = 0
    #: ``"name: error"`` of each object storage refused to delete (not transiently).
    refused: list[str] = field(default_factory=list)


@dataclass
class RewriteResult:
    """What :func:`rewrite_index` wrote and deleted."""

    index_written: list[str] = field(default_factory=list)
    index_deleted: int = 0
    packs_deleted: int = 0
    bytes_deleted: int = 0
    #: ``"name: error"`` of each object storage refused to delete.
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PackContent:
    """A whole pack as read from storage, and whether it matches its SHA-256 name."""

    pack_id: bytes
    data: bytes

    @property
    def intact(self) -> bool:
        """Whether the bytes hash to the pack's name (complete and undamaged)."""
        return hmac.compare_digest(hashlib.sha256(self.data).digest(), self.pack_id)

    def copies(self, record: PackRecord) -> Iterator[tuple[BlobLocation, memoryview]]:
        """Each blob ``record`` lists, with the stored copy it points at in these bytes.

        A copy cut short by the end of the pack is yielded short (verifying it fails).
        """
        view = memoryview(self.data)
        for entry in record.entries:
            location = BlobLocation.in_pack(self.pack_id, entry, record.key_id, record.trusted)
            yield location, view[entry.offset : entry.offset + entry.length]


def read_pack(repo: Repository, pack_id: bytes) -> PackContent:
    """Read one whole pack (backend errors raised)."""
    return PackContent(pack_id, repo.packs.read(pack_id))


class BlobCopier:
    """Copies verified blobs into new packs sealed under the current data key.

    Use as a context manager; :meth:`finish` makes the copies durable and indexed
    (by the copier's own interim index files, :attr:`index_files`) and returns the
    records of the new packs for the complete index that replaces them.
    """

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        #: Records of the packs written so far.
        self.records: list[PackRecord] = []
        self.blobs = 0
        self._packer = repo.packs.packer(
            MasterIndex(),
            repo.keys.current_sealer,
            repo.config.pack_size,
            on_uploaded=self.records.append,
        )

    def copy(
        self, location: BlobLocation, sealed: bytes | memoryview, key_id: bytes | None = None
    ) -> None:
        """Verify the stored copy at ``location`` and re-seal it into a new pack.

        Raises :class:`IntegrityError` (nothing copied) if the copy does not verify.
        """
        self._repo.cancel.check()
        if len(sealed) != location.length:
            raise IntegrityError("blob extends past the end of the pack")
        resealed = self._repo.blobs.reseal_blob(location, sealed, key_id)
        self._packer.add(
            location.kind, location.blob_id, resealed, location.raw_length, location.compression
        )
        self.blobs += 1

    def finish(self) -> list[PackRecord]:
        """Upload what is pending and index it; the records of every new pack."""
        self._packer.flush()
        return list(self.records)

    @property
    def index_files(self) -> list[str]:
        """The interim index files listing the new packs (superseded by the rewrite)."""
        return list(self._packer.index_files)

    @property
    def bytes_written(self) -> int:
        """Bytes of the new packs uploaded so far."""
        return sum(record.size for record in self.records)

    def close(self) -> None:
        """Stop the uploads (after :meth:`finish`, or to abandon the copy)."""
        self._packer.close()

    def __enter__(self) -> BlobCopier:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _trace: TracebackType | None,
    ) -> None:
        self.close()


def write_index(
    repo: Repository,
    records: Sequence[PackRecord],
    supersedes: Sequence[str] = (),
    *,
    per_file: int = PACKS_PER_INDEX_FILE,
) -> list[str]:
    """Write ``records`` as index files of ``per_file`` packs each; their names.

    Only the first file (``records[:per_file]``) names ``supersedes``, and it is
    written last, after every other new file is durable (step 2 of the module
    docstring). With no records nothing is written.
    """
    sealer = repo.keys.current_sealer()
    chunks = [list(records[start : start + per_file]) for start in range(0, len(records), per_file)]
    if not chunks:
        return []
    rest = [repo.packs.write_index(chunk, (), sealer) for chunk in chunks[1:]]
    return [repo.packs.write_index(chunks[0], supersedes, sealer), *rest]


def rewrite_index(
    repo: Repository,
    records: Sequence[PackRecord],
    old_index: Sequence[str],
    doomed: Mapping[bytes, int],
    *,
    index: bool = True,
    per_file: int = PACKS_PER_INDEX_FILE,
    prove: Callable[[list[str]], None] | None = None,
    guard: Callable[[], None] | None = None,
    events: Events | None = None,
) -> RewriteResult:
    """Steps 2-4 of the module docstring: replace the index, then delete, then reload.

    ``records`` is the complete new index (kept records and the copier's); it
    replaces ``old_index`` (every file it supersedes, the copier's interim files
    included). ``doomed`` (pack id -> size) are the packs to delete once no index
    lists them. With ``index`` False the index is left as it is and only the packs
    go. ``prove(written)`` may read the new files back and raise to keep the old
    ones; ``guard()`` runs before each deleting phase and raises when the lock may
    be lost. Warnings go to ``events`` (default ``repo.events``).
    """
    result = RewriteResult()
    if index:
        result.index_written = write_index(repo, records, old_index, per_file=per_file)
        if prove is not None:
            prove(result.index_written)
        # The new index is durable: the old files, then the packs, may go.
        if guard is not None:
            guard()
        stale = [name for name in old_index if name not in result.index_written]
        gone = delete_objects(repo, stale, events=events)
        result.index_deleted = gone.deleted
        result.refused.extend(gone.refused)
    if guard is not None:
        guard()
    gone = delete_objects(repo, [pack_name(p) for p in doomed], dict(_sizes(doomed)), events)
    result.packs_deleted, result.bytes_deleted = gone.deleted, gone.bytes
    result.refused.extend(gone.refused)
    repo.blobs.load_index(reload=True)
    return result


def unindex_packs(repo: Repository, names: Iterable[str], packs: set[bytes]) -> list[str]:
    """Rewrite each index file in ``names`` that lists one of ``packs`` without them.

    Each replacement (if anything is left) is written before any file it replaces
    is deleted; unreadable index files are skipped (they list nothing usable).
    Returns the names of the replaced files (deleted; errors raised).
    """
    replaced: list[str] = []
    for name in names:
        try:
            records = repo.blobs.read_index_file(name)
        except (IntegrityError, BackendError):
            continue  # lists nothing anyone can use; 'repair index' removes it
        if not any(r.pack_id in packs for r in records):
            continue
        keep = [r for r in records if r.pack_id not in packs]
        if keep:
            repo.packs.write_index(keep, [name])
        replaced.append(name)
    for name in replaced:  # every replacement is durable: the old files may go
        repo.cancel.check()
        repo.packs.delete_index(name)
    return replaced


def delete_objects(
    repo: Repository,
    names: Iterable[str],
    sizes: Mapping[str, int] | None = None,
    events: Events | None = None,
) -> Deletion:
    """Delete index files, packs or agent session keys by object name, one by one.

    A missing object is skipped; a transient failure is warned about
    (``Code.DELETE_DEFERRED``: a later run deletes it); any other storage error is
    warned about (``Code.DELETE_REFUSED``) and listed in :attr:`Deletion.refused`.
    ``sizes`` (name -> bytes) adds up :attr:`Deletion.bytes`. A cancel stops
    between two deletions.
    """
    events = events or repo.events
    done = Deletion()
    for name in names:
        repo.cancel.check()
        try:
            _delete(repo, name)
        except NotFoundError:
            continue
        except TransientBackendError as error:
            message = f"could not delete {name}: {error} (running it again deletes it)"
            events.warn(Code.DELETE_DEFERRED, message, subject=name)
            continue
        except BackendError as error:
            done.refused.append(f"{name}: {error}")
            events.warn(Code.DELETE_REFUSED, f"could not delete {name}: {error}", subject=name)
            continue
        done.deleted += 1
        done.bytes += (sizes or {}).get(name, 0)
    return done


def _delete(repo: Repository, name: str) -> None:
    pack_id = pack_id_from_name(name)
    if pack_id is not None:
        repo.packs.delete(pack_id)
    elif name.startswith(INDEX_PREFIX):
        repo.packs.delete_index(name)
    elif name.startswith(SESSION_PREFIX):
        repo.keys.delete_session_key(name)
    else:
        raise ValueError(f"{name!r} is not an index file, pack or session key")


def _sizes(doomed: Mapping[bytes, int]) -> Iterator[tuple[str, int]]:
    for pack_id, size in doomed.items():
        yield pack_name(pack_id), size


__all__ = [
    "PACKS_PER_INDEX_FILE",
    "BlobCopier",
    "Deletion",
    "PackContent",
    "RewriteResult",
    "delete_objects",
    "read_pack",
    "rewrite_index",
    "unindex_packs",
    "write_index",
]
