"""Which ranges of which packs a restore reads, and with how many workers.

Every blob a planned file needs is looked up in the index and filed under its
pack, with the (file, offset) pairs it is written to, so a blob shared by many
files is read once. Each pack's wanted blobs are then coalesced into ranged
reads: neighbours closer than :data:`MAX_GAP` share a read, and no read is
longer than :data:`MAX_READ`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from keyark.repo.index import BlobLocation, MasterIndex
from keyark.restorer.plan import PlanEntry

MAX_GAP = 1024 * 1024
#: Upper bound of one ranged read (and so of each restore worker's buffer).
MAX_READ = 4 * 1024 * 1024
RESTORE_WORKERS = 4
#: Files and content bytes whose reads a restore plans at once (see :func:`batches`).
BATCH_FILES = 8192
BATCH_BYTES = 256 * 1024 * 1024
#: Below this average blob size a restore is dominated by per-file work.
SMALL_BLOB = 64 * 1024


@dataclass(slots=True)
class FileJob:
    """A file being written under a temporary name, and how many blobs it still waits for."""

    entry: PlanEntry
    remaining: int
    temp: str = ""
    fd: int = -1
    failed: bool = False
    #: The target had an entry of this name before (an ``updated`` file, not ``restored``).
    existed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


#: A wanted blob and the (file, offset) pairs it is written to.
Wanted = tuple[BlobLocation, list[tuple[FileJob, int]]]
#: Pack id -> blob id -> the wanted blob.
PackReads = dict[bytes, dict[bytes, Wanted]]


def locate_content(
    index: MasterIndex, content: Iterable[bytes]
) -> list[tuple[BlobLocation, int]] | None:
    """(location, file offset) of each blob of a file's ``content``; None if one is in no index."""
    offset = 0
    planned: list[tuple[BlobLocation, int]] = []
    for blob_id in content:
        location = index.get(blob_id)
        if location is None:
            return None
        planned.append((location, offset))
        offset += location.raw_length
    return planned


def add_reads(packs: PackReads, job: FileJob, planned: list[tuple[BlobLocation, int]]) -> None:
    """File the blobs of ``job``'s file (from :func:`locate_content`) under their packs."""
    for location, file_offset in planned:
        per_pack = packs.setdefault(location.pack_id, {})
        slot = per_pack.setdefault(location.blob_id, (location, []))
        slot[1].append((job, file_offset))


def batches(
    jobs: Iterable[tuple[FileJob, list[tuple[BlobLocation, int]]]],
    max_files: int | None = None,
    max_bytes: int | None = None,
) -> Iterator[PackReads]:
    """The reads of ``jobs`` (from :func:`locate_content`), in batches of at most
    ``max_files`` files or ``max_bytes`` of content (default :data:`BATCH_FILES`,
    :data:`BATCH_BYTES`; a file is never split).

    A restore holds the reads of a batch or two, not of every file: its memory does
    not grow with the number of files. Files come in snapshot order, which is about
    the order their blobs were packed, so a batch reads a run of packs.
    """
    max_files = max_files or BATCH_FILES
    max_bytes = max_bytes or BATCH_BYTES
    packs: PackReads = {}
    files = size = 0
    for job, planned in jobs:
        add_reads(packs, job, planned)
        files += 1
        size += job.entry.node.size
        if files >= max_files or size >= max_bytes:
            yield packs
            packs, files, size = {}, 0, 0
    if packs:
        yield packs


def read_groups(blobs: list[Wanted]) -> list[list[Wanted]]:
    """Coalesce a pack's wanted blobs into ranged reads (small gaps, bounded size)."""
    blobs.sort(key=lambda item: item[0].offset)
    groups: list[list[Wanted]] = []
    for item in blobs:
        if groups:
            last = groups[-1][-1][0]
            first = groups[-1][0][0]
            end = item[0].offset + item[0].length
            if item[0].offset - (last.offset + last.length) <= MAX_GAP and (
                end - first.offset <= MAX_READ
            ):
                groups[-1].append(item)
                continue
        groups.append([item])
    return groups


def worker_count(packs: PackReads, connections: int) -> int:
    """Restore workers for ``packs`` on a backend allowing ``connections`` at once.

    Ranges (not whole packs) are the unit of work. Large blobs are decrypted in
    parallel; for many small files the per-file work is Python and file system calls:
    two workers overlap one's file creation (the GIL released in the kernel) with the
    other's Python; more only add hand-offs (measured at 50,000 files: 4 were slower).
    """
    blobs = sum(len(per_pack) for per_pack in packs.values())
    raw = sum(loc.raw_length for per_pack in packs.values() for loc, _ in per_pack.values())
    small = blobs > 0 and raw / blobs < SMALL_BLOB
    return max(2, connections // 2) if small else max(RESTORE_WORKERS, connections)
