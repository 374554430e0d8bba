"""``repair snapshots``: rewrite snapshots whose data is damaged, keep the rest restorable.

A blob is damaged when the index lacks it, when its pack is missing, truncated
or disagrees with the index, when it cannot be decrypted (trees always; data
blobs with ``read_data``). In a rewritten snapshot:

- a file with a damaged blob becomes an empty file ``NAME.keyark-damaged``
  with the file's metadata;
- a directory whose listing is damaged becomes an empty directory
  ``NAME.keyark-damaged``;

every replacement is named in the result. The new snapshot keeps time, host,
paths and tags and records ``repaired_from``. With ``forget`` the damaged
originals are removed (and snapshots whose root is lost, which cannot be
rewritten, and snapshot objects that cannot be read at all: nothing in them can be
restored, and they would stop ``prune`` for ever); without it they stay, and ``check``
keeps reporting them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from keyark.cancel import NEVER, CancelToken
from keyark.context import OperationContext
from keyark.errors import BackendError, IntegrityError
from keyark.events import Events
from keyark.maintenance.check import Checker
from keyark.maintenance.snapshot_edit import replacement
from keyark.maintenance.usage import read_snapshots
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, FILE, Node
from keyark.results import Summary

MARKER_SUFFIX = ".keyark-damaged"


@dataclass
class RepairSnapshotsOptions:
    """Remove the damaged originals, change nothing, and decrypt data blobs to find damage."""

    forget: bool = False
    dry_run: bool = False
    read_data: bool = False


@dataclass
class RepairedSnapshot:
    """One damaged snapshot and what became of it."""

    original: str
    replacement: str | None = None
    replaced: list[str] = field(default_factory=list)
    root_lost: bool = False
    #: The snapshot object itself cannot be read (damaged, or not a snapshot).
    unreadable: bool = False
    forgotten: bool = False


@dataclass
class RepairSnapshotsSummary(Summary):
    """What ``repair snapshots`` found and did."""

    checked: int = 0
    dry_run: bool = False
    snapshots: list[RepairedSnapshot] = field(default_factory=list)


class _Rewriter:
    """Rewrites trees bottom-up, memoised per tree id."""

    def __init__(self, repo: Repository, bad: dict[bytes, str], dry_run: bool) -> None:
        self.repo = repo
        self.bad = bad
        self.dry_run = dry_run
        self._done: dict[bytes, tuple[bytes, list[str]]] = {}
        self._empty: bytes | None = None

    def damaged(self, blob_id: bytes) -> bool:
        return blob_id in self.bad or blob_id not in self.repo.blobs.index

    def load(self, tree_id: bytes) -> list[Node] | None:
        if self.damaged(tree_id):
            return None
        try:
            return self.repo.blobs.load_tree(tree_id)
        except (IntegrityError, BackendError) as error:
            self.bad[tree_id] = str(error)
            return None

    def save(self, nodes: list[Node]) -> bytes:
        if self.dry_run:
            return self.repo.blobs.hasher(b"")  # any id: nothing is written
        return self.repo.blobs.save_tree(nodes)[0]

    def empty_tree(self) -> bytes:
        if self._empty is None:
            self._empty = self.save([])
        return self._empty

    def rewrite(self, tree_id: bytes, nodes: list[Node]) -> tuple[bytes, list[str]]:
        """(new tree id, replaced paths relative to this tree)."""
        if tree_id in self._done:
            return self._done[tree_id]
        replaced: list[str] = []
        result: list[Node] = []
        taken = {node.name for node in nodes}
        for node in nodes:
            fresh = node
            if node.type == FILE and any(self.damaged(b) for b in node.content):
                fresh = replace(node, name=_marker(node.name, taken), size=0, content=[], links=1)
            elif node.type == DIR and node.subtree is not None:
                children = self.load(node.subtree)
                if children is None:
                    fresh = replace(node, name=_marker(node.name, taken), subtree=self.empty_tree())
                else:
                    subtree, below = self.rewrite(node.subtree, children)
                    replaced.extend(f"{node.name}/{path}" for path in below)
                    fresh = replace(node, subtree=subtree)
            if fresh.name != node.name:
                replaced.append(node.name)
            result.append(fresh)
        new_id = tree_id if not replaced else self.save(result)
        self._done[tree_id] = (new_id, replaced)
        return new_id, replaced


def _marker(name: str, taken: set[str]) -> str:
    candidate = name + MARKER_SUFFIX
    number = 1
    while candidate in taken:
        number += 1
        candidate = f"{name}{MARKER_SUFFIX}-{number}"
    taken.add(candidate)
    return candidate


def find_damage(
    repo: Repository, read_data: bool, events: Events | None = None, cancel: CancelToken = NEVER
) -> dict[bytes, str]:
    """Blob id -> reason for every blob ``check`` finds damaged (loads a fresh index)."""
    repo.blobs.index.clear()
    checker = Checker(repo, events, cancel)
    checker.check_index()
    if read_data:
        checker.check_data(None)
    return checker.bad_blobs


def repair_snapshots(
    repo: Repository, options: RepairSnapshotsOptions, ctx: OperationContext | None = None
) -> RepairSnapshotsSummary:
    """Rewrite every damaged snapshot (under an exclusive lock).

    ``ctx`` gives the events, the cancel token and the lock wait (default: the
    repository's bound events and cancel token, no wait). Every snapshot is a cancel
    checkpoint until the first replacement is saved; from then on the run completes.
    """
    ctx = ctx or OperationContext(events=repo.events, cancel=repo.cancel)
    summary = RepairSnapshotsSummary(dry_run=options.dry_run)
    with repo.lock("repair snapshots", exclusive=True, retry=ctx.lock_wait):
        damage = find_damage(repo, options.read_data, ctx.events, ctx.cancel)
        rewriter = _Rewriter(repo, damage, options.dry_run)
        snapshots = read_snapshots(
            repo,
            lambda snapshot_id, _error: summary.snapshots.append(
                RepairedSnapshot(snapshot_id, root_lost=True, unreadable=True)
            ),
            ctx.cancel,
        )
        summary.checked = len(snapshots) + len(summary.snapshots)
        pending: list[tuple[Snapshot, RepairedSnapshot, bytes]] = []
        for snapshot in snapshots:
            ctx.cancel.check()
            item = RepairedSnapshot(snapshot.id)
            nodes = rewriter.load(snapshot.tree)
            if nodes is None:
                item.root_lost = True
                summary.snapshots.append(item)
                continue
            new_tree, item.replaced = rewriter.rewrite(snapshot.tree, nodes)
            if item.replaced:
                item.replaced = ["/" + path for path in item.replaced]
                summary.snapshots.append(item)
                pending.append((snapshot, item, new_tree))
        if options.dry_run:
            return summary
        repo.blobs.flush()  # the new trees are durable before any snapshot names them
        for snapshot, item, new_tree in pending:
            # Like rewrite: the original's provenance (agent, trust) goes with it, so a
            # repair never turns an agent's or a flagged snapshot into a full-key one.
            fresh = replacement(repo.keys.keyring, snapshot, tree=new_tree)
            fresh.extra["repaired_from"] = snapshot.id
            item.replacement = repo.snapshots.save(fresh)
        if options.forget:
            for item in summary.snapshots:
                repo.snapshots.delete(item.original)
                item.forgotten = True
    return summary


__all__ = [
    "MARKER_SUFFIX",
    "RepairSnapshotsOptions",
    "RepairSnapshotsSummary",
    "RepairedSnapshot",
    "find_damage",
    "repair_snapshots",
]
