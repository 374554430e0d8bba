"""``repair index``: rebuild the index from the pack headers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from keyark.errors import BackendError, FormatError, IntegrityError
from keyark.repo.index import PackRecord
from keyark.repo.pack import pack_id_from_name
from keyark.repo.packer import write_index_file
from keyark.repo.repository import Repository

PACKS_PER_INDEX_FILE = 4096


@dataclass
class RepairSummary:
    """What ``repair index`` did."""

    packs_indexed: int = 0
    blobs_indexed: int = 0
    index_files_written: int = 0
    index_files_removed: int = 0
    unreadable_packs: list[str] = field(default_factory=list)


def repair_index(
    repo: Repository, warn: Callable[[str], None] | None = None, retry_lock: float = 0.0
) -> RepairSummary:
    """Read every pack header, write a fresh index, then delete the old index files."""
    summary = RepairSummary()
    with repo.lock("repair index", exclusive=True, retry=retry_lock):
        old = [info.name for info in repo.backend.list("index/")]
        packs = [
            (pack_id, size)
            for name, size in repo.iter_pack_names()
            if (pack_id := pack_id_from_name(name)) is not None
        ]

        def read(item: tuple[bytes, int]) -> PackRecord | None:
            pack_id, size = item
            try:
                entries, key_id = repo.pack_header(pack_id, size)
                return PackRecord(pack_id, size, entries, key_id)
            except (IntegrityError, FormatError, BackendError) as error:
                message = f"pack {pack_id.hex()[:16]} cannot be indexed: {error}"
                summary.unreadable_packs.append(message)
                if warn is not None:
                    warn(message)
                return None

        workers = max(2, repo.backend.capabilities().connections)
        with ThreadPoolExecutor(workers) as pool:
            records = [r for r in pool.map(read, packs) if r is not None]
        sealer = repo.current_sealer()
        written: list[str] = []
        for start in range(0, len(records), PACKS_PER_INDEX_FILE):
            batch = records[start : start + PACKS_PER_INDEX_FILE]
            written.append(write_index_file(repo.backend, sealer, batch, old))
        # The new index is durable: only now do the old files go.
        for name in old:
            if name in written:
                continue
            try:
                repo.backend.delete(name)
                summary.index_files_removed += 1
            except BackendError:
                pass
        summary.packs_indexed = len(records)
        summary.blobs_indexed = sum(len(r.entries) for r in records)
        summary.index_files_written = len(written)
    repo.load_index(reload=True)
    return summary
