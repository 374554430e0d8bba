"""Index compaction: when prune merges many small index files into a few.

Every full-key backup writes at least one index file (16 packs per file) and every
agent run one per pack, so a repository that many hosts back up to collects
thousands of small index files; opening it reads every one (and, for agents' files,
each run's wrapped session key). Like restic's ``prune``, keyark's prune rewrites
the whole index whenever it changes which packs are listed; it also rewrites it,
with nothing else to do, when the index is *fragmented*: when it has more than
:data:`EXCESS_INDEX_FILES` files beyond the :func:`index_files_needed` a rewrite
writes (64 packs per file).

The plan is prune's (:func:`keyark.maintenance.prune_plan.plan_prune`, under the
exclusive lock): every index file is read, and only the files read are replaced.
The order (prune's, :mod:`keyark.repo.rewrite`), safe when killed at any point:

1. the merged index (every kept record) is written as new files and is durable; only
   the first names the files it supersedes, and it is written last
   (:func:`keyark.repo.rewrite.write_index`; naming them in every file made the index
   grow with new files x old files, 47 KB per file for 660 old ones in the load test);
2. the exclusive lock is confirmed (``guard``);
3. only then are the superseded files deleted, one by one (each a cancel checkpoint).

Killed after step 1, both old and new files list the same packs: readers merge
them, ``check`` passes, and the next prune compacts again.

Trust (design D7) is kept, never granted: a record keeps the trust mark it was
read with, and readers trust a record only when its writer marked it trusted *and*
the file and the pack are sealed with keyring data keys; an agent's (untrusted)
record is rewritten marked untrusted, so compaction cannot launder a forged index.
Untrusted records naming a pack not stored with that size are dropped (prune's
plan ignores them), an agent's index file that cannot be read is left in place,
and an untrusted record never adds entries to a trusted record of the same pack.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyark.repo.index import PackRecord
from keyark.repo.repository import Repository
from keyark.repo.rewrite import PACKS_PER_INDEX_FILE, write_index

#: Index files tolerated beyond what a rewrite would write before prune compacts.
EXCESS_INDEX_FILES = 8


def index_files_needed(packs: int) -> int:
    """How many index files a rewrite writes for ``packs`` packs."""
    return -(-packs // PACKS_PER_INDEX_FILE)


def write_merged_index(
    repo: Repository, records: Sequence[PackRecord], superseded: Sequence[str]
) -> list[str]:
    """Write ``records`` as index files of 64 packs, the first naming ``superseded``; names."""
    return write_index(repo, records, superseded, per_file=PACKS_PER_INDEX_FILE)


def needs_compaction(index_files: int, packs: int) -> bool:
    """Whether ``index_files`` files listing ``packs`` packs are fragmented enough to merge."""
    return index_files > index_files_needed(packs) + EXCESS_INDEX_FILES


__all__ = ["EXCESS_INDEX_FILES", "index_files_needed", "needs_compaction", "write_merged_index"]
