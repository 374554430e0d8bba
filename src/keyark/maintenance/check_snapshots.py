"""``check``'s snapshot half: every snapshot readable and trusted, every tree and file
blob of every snapshot present and undamaged (damage found by the pack half is
attributed to the snapshots and files it affects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyark.catalog.trees import Entry, walk
from keyark.crypto.agents import TRUSTED
from keyark.errors import BackendError, IntegrityError, KeyarkError
from keyark.maintenance.usage import read_snapshots
from keyark.repo.snapshot import Snapshot
from keyark.repo.snapshot_trust import snapshot_trust
from keyark.repo.tree import FILE, Node
from keyark.results import Problem

if TYPE_CHECKING:
    from keyark.maintenance.check import Checker


def check_snapshots(checker: Checker) -> list[Snapshot]:
    """Load every snapshot; report unreadable and untrusted ones."""

    def unreadable(snapshot_id: str, error: KeyarkError) -> None:
        checker.problem("snapshot", snapshot_id[:8], str(error))

    snapshots = read_snapshots(checker.repo, unreadable, checker.cancel)
    for snapshot in snapshots:
        agent = snapshot.extra.get("agent")
        trust = snapshot_trust(checker.repo.keys.keyring, snapshot)
        if trust not in TRUSTED:
            who = f"agent {agent!r}" if agent else "no agent"
            checker.problem(
                "snapshot",
                snapshot.id[:8],
                f"not signed by a registered, unrevoked agent ({trust}, {who}); "
                "restore refuses it unless unsigned snapshots are allowed",
            )
    checker.summary.snapshots = len(snapshots)
    return snapshots


def check_trees(checker: Checker, snapshots: list[Snapshot]) -> None:
    """Walk every snapshot; report damaged trees and files with missing or bad blobs."""
    trees: dict[bytes, list[Node] | None] = {}
    damage: dict[tuple[str, str], Problem] = {}

    def load(tree_id: bytes) -> list[Node] | None:
        if tree_id not in trees:
            try:
                trees[tree_id] = checker.repo.blobs.load_tree(tree_id)
            except (IntegrityError, BackendError) as error:
                trees[tree_id] = None
                checker.bad_blobs.setdefault(tree_id, str(error))
        return trees[tree_id]

    def affect(blob_id: bytes, snapshot: Snapshot, path: str) -> None:
        reason = checker.bad_blobs.get(blob_id) or "blob is not in the index"
        key = (blob_id.hex(), reason)
        found = checker.blob_problems.get(blob_id) or damage.get(key)
        if found is None:
            found = checker.problem("blob", blob_id.hex()[:16], reason)
            damage[key] = found
        if snapshot.short_id not in found.snapshots:
            found.snapshots.append(snapshot.short_id)
        if path not in found.files:
            found.files.append(path)

    def readable(tree_id: bytes) -> bool:
        return tree_id in checker.repo.blobs.index and load(tree_id) is not None

    def listing(tree_id: bytes) -> list[Node]:
        return trees.get(tree_id) or []  # only asked for trees found readable

    for snapshot in snapshots:
        checker.cancel.check()
        if not readable(snapshot.tree):
            affect(snapshot.tree, snapshot, "/")
            continue

        def descend(entry: Entry, snapshot: Snapshot = snapshot) -> bool:
            subtree = entry.node.subtree
            if subtree is None or readable(subtree):
                return True
            affect(subtree, snapshot, entry.path)
            return False

        for entry in walk(listing, snapshot.tree, descend=descend, cancel=checker.cancel):
            if entry.node.type == FILE:
                for blob_id in entry.node.content:
                    if blob_id in checker.bad_blobs or blob_id not in checker.repo.blobs.index:
                        affect(blob_id, snapshot, entry.path)
    checker.summary.trees = sum(1 for v in trees.values() if v is not None)


__all__ = ["check_snapshots", "check_trees"]
