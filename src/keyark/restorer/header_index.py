"""Reading past a damaged index: find blobs from pack headers, in memory only.

When an index file is unreadable (``load_index`` skips it) or a blob a restore
needs is not in the index, the packs no readable index file lists are opened and
their headers added to this session's master index. Nothing is written: the
repository is repaired by ``keyark repair index``, which the warning names.

Header-derived locations are marked untrusted (design D7): they never shadow a
copy a full-key index lists, and every blob read from them is verified anyway.
"""

from __future__ import annotations

from keyark.cancel import NEVER, CancelToken
from keyark.errors import BackendError, IntegrityError
from keyark.events import Code, Events
from keyark.repo.index import PackRecord
from keyark.repo.repository import Repository
from keyark.repo.tree import Node
from keyark.restorer.plan import PathFilter, RestorePlan, build_plan, find_subtree


def index_from_pack_headers(
    repo: Repository, events: Events | None = None, cancel: CancelToken = NEVER
) -> int:
    """Add every stored pack the master index lacks, from its header; return how many.

    Packs whose header cannot be read are skipped. ``events`` hears one
    ``index.damaged`` warning naming the remedy when anything was added or an index
    file was skipped.
    """
    added = 0
    indexed = repo.blobs.index.packs()
    for pack_id, size in repo.stored_packs().items():
        cancel.check()
        if pack_id in indexed:
            continue
        try:
            entries, key_id = repo.blobs.pack_header(pack_id, size)
        except (IntegrityError, BackendError):
            continue
        repo.blobs.add_record(PackRecord(pack_id, size, entries, key_id, trusted=False))
        added += 1
    problems = repo.blobs.index_problems
    if events is not None and (added or problems):
        damaged = len(problems)
        what = f"{damaged} index file(s) cannot be read" if damaged else "the index is incomplete"
        events.warn(
            Code.INDEX_DAMAGED,
            f"{what}: {added} pack(s) were read from their own headers instead; "
            "rebuild the index with 'repair index'",
        )
    return added


def plan_restore(
    repo: Repository,
    root_tree: bytes,
    subpath: str,
    path_filter: PathFilter,
    events: Events | None = None,
    cancel: CancelToken = NEVER,
) -> RestorePlan:
    """The restore plan of ``subpath`` of a snapshot, reading past index damage.

    Call with the index loaded. When an index file was skipped, or a tree the walk
    needs is not in the index, the unindexed packs' headers are read (see
    :func:`index_from_pack_headers`) and the walk repeated. Unreadable directories
    stay in ``plan.unreadable``, each reason ending in the command that may help.
    """
    missing: list[bytes] = []

    def load_tree(tree_id: bytes) -> list[Node]:
        if tree_id not in repo.blobs.index:
            missing.append(tree_id)
        return repo.blobs.load_tree(tree_id)

    def walk() -> RestorePlan:
        missing.clear()
        root, base = find_subtree(load_tree, root_tree, subpath)
        return build_plan(load_tree, root, path_filter, base, cancel)

    recovered = False
    if repo.blobs.index_problems:
        index_from_pack_headers(repo, events, cancel)
        recovered = True
    plan = walk()
    index = repo.blobs.index
    lacking = missing or any(b not in index for e in plan.files for b in e.node.content)
    if lacking and not recovered and index_from_pack_headers(repo, events, cancel):
        plan = walk()
    plan.unreadable = [(path, _with_remedy(reason)) for path, reason in plan.unreadable]
    return plan


def _with_remedy(reason: str) -> str:
    """The reason a directory is not restored, ending in what to do about it."""
    if "not in the index" in reason:
        return (
            f"cannot read this directory: {reason} nor in any pack header; check the "
            "repository (it is lost unless another snapshot holds it)"
        )
    return f"cannot read this directory: {reason}"
