"""Reading past a damaged index: find blobs from pack headers, in memory only.

When an index file is unreadable (``load_index`` skips it) or a blob a restore
needs is not in the index, the packs no readable index file lists are opened and
their headers added to this session's master index. Nothing is written: the
repository is repaired by ``keyark repair index``, which the warning names.

Header-derived locations are marked untrusted (design D7): they never shadow a
copy a full-key index lists, and every blob read from them is verified anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from keyark.errors import BackendError, IntegrityError
from keyark.repo.index import PackRecord
from keyark.repo.pack import pack_id_from_name
from keyark.repo.repository import Repository
from keyark.repo.tree import Node
from keyark.restorer.plan import PathFilter, RestorePlan, build_plan, find_subtree

Warn = Callable[[str], None]


def index_from_pack_headers(repo: Repository, warn: Warn | None = None) -> int:
    """Add every stored pack the master index lacks, from its header; return how many.

    Packs whose header cannot be read are skipped. ``warn`` hears one line naming
    the remedy when anything was added or an index file was skipped.
    """
    added = 0
    for name, size in repo.iter_pack_names():
        pack_id = pack_id_from_name(name)
        if pack_id is None or repo.index.has_pack(pack_id):
            continue
        try:
            entries, key_id = repo.pack_header(pack_id, size)
        except (IntegrityError, BackendError):
            continue
        repo.add_record(PackRecord(pack_id, size, entries, key_id, trusted=False))
        added += 1
    if warn is not None and (added or repo.index_problems):
        damaged = len(repo.index_problems)
        what = f"{damaged} index file(s) cannot be read" if damaged else "the index is incomplete"
        warn(
            f"{what}: {added} pack(s) were read from their own headers instead; "
            "run 'keyark repair index' to rebuild the index"
        )
    return added


def plan_restore(
    repo: Repository,
    root_tree: bytes,
    subpath: str,
    path_filter: PathFilter,
    warn: Warn | None = None,
) -> RestorePlan:
    """The restore plan of ``subpath`` of a snapshot, reading past index damage.

    Call with the index loaded. When an index file was skipped, or a tree the walk
    needs is not in the index, the unindexed packs' headers are read (see
    :func:`index_from_pack_headers`) and the walk repeated. Unreadable directories
    stay in ``plan.unreadable``, each reason ending in the command that may help.
    """
    missing: list[bytes] = []

    def load_tree(tree_id: bytes) -> list[Node]:
        if tree_id not in repo.index:
            missing.append(tree_id)
        return repo.load_tree(tree_id)

    def walk() -> RestorePlan:
        missing.clear()
        root, base = find_subtree(load_tree, root_tree, subpath)
        return build_plan(load_tree, root, path_filter, base)

    recovered = False
    if repo.index_problems:
        index_from_pack_headers(repo, warn)
        recovered = True
    plan = walk()
    lacking = missing or any(b not in repo.index for e in plan.files for b in e.node.content)
    if lacking and not recovered and index_from_pack_headers(repo, warn):
        plan = walk()
    plan.unreadable = [(path, _with_remedy(reason)) for path, reason in plan.unreadable]
    return plan


def _with_remedy(reason: str) -> str:
    """The reason a directory is not restored, ending in what to do about it."""
    if "not in the index" in reason:
        return (
            f"cannot read this directory: {reason} nor in any pack header; run 'keyark check' "
            "(it is lost unless another snapshot holds it)"
        )
    return f"cannot read this directory: {reason}"
