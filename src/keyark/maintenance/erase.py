"""Verified erasure: what matching paths hold in which snapshots, and proof that it is gone.

:func:`plan_erasure` walks the selected snapshots' trees (the one tree walker) and
collects every entry a pattern matches (restic's rules, as ``rewrite`` applies them),
everything below a matching directory, and the blobs those entries use: the file
contents and the trees below a matching directory. :func:`prove_erasure`, run after the
snapshots were rewritten without them, the originals forgotten and the unused data
pruned, checks every remaining snapshot for a matching path and every planned blob
against the index: a blob still indexed is either used by retained content (an
identical file elsewhere: named, with one path that uses it) or a failure of the
erasure. Nothing here writes; :mod:`keyark.ops.erase` runs the rewrite and prune
operations between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from keyark.cancel import NEVER, CancelToken
from keyark.catalog.trees import Entry, walk
from keyark.errors import IntegrityError, UsageError
from keyark.maintenance.usage import read_snapshots
from keyark.patterns import PatternSet
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, FILE


@dataclass(frozen=True)
class EraseOptions:
    """What to erase (path patterns), from which snapshots (all when none are named), why,
    and whether to change nothing."""

    #: Patterns of the paths to erase (restic's exclude rules: ``.env``, ``/srv/app/.env``).
    paths: Sequence[str] = ()
    #: Snapshot ids or unique prefixes; none: every snapshot.
    snapshots: Sequence[str] = ()
    #: Why (recorded in the audit log and the result; required).
    reason: str = ""
    #: Show what would be erased; change nothing.
    dry_run: bool = False

    def validate(self) -> PatternSet:
        """The patterns; :class:`UsageError` for a request without paths or reason."""
        patterns = PatternSet([p for p in self.paths if p.strip()])
        if not patterns:
            raise UsageError("no path patterns given: nothing to erase")
        if not self.reason.strip():
            raise UsageError("no reason given: an erasure records why it was done")
        return patterns


@dataclass
class AffectedSnapshot:
    """A snapshot holding matching paths: the paths, and its replacement once rewritten."""

    snapshot: str
    paths: list[str] = field(default_factory=list)
    replacement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "paths": self.paths, "replacement": self.replacement}


@dataclass
class ErasurePlan:
    """Every snapshot and path a pattern matches, and the blobs those entries use."""

    snapshots: list[AffectedSnapshot] = field(default_factory=list)
    #: Blob id -> stored length (bytes in the packs): the matching entries' contents and
    #: trees, and the trees naming them.
    blobs: dict[bytes, int] = field(default_factory=dict)
    #: The trees that name a matching entry (replaced by the rewrite).
    naming_trees: set[bytes] = field(default_factory=set)

    @property
    def paths(self) -> list[str]:
        """Every matching path, once, sorted."""
        return sorted({path for item in self.snapshots for path in item.paths})

    @property
    def stored_bytes(self) -> int:
        """Bytes the matching entries' blobs take in the packs."""
        return sum(self.blobs.values())


@dataclass
class RetainedBlob:
    """A blob of an erased entry still indexed because retained content uses it."""

    blob: str
    size: int
    snapshot: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"blob": self.blob, "size": self.size, "snapshot": self.snapshot, "path": self.path}


@dataclass
class ErasureProof:
    """What the repository holds after the erasure, checked from scratch."""

    #: (snapshot id, path) of every remaining snapshot that still lists a matching path.
    still_listed: list[tuple[str, str]] = field(default_factory=list)
    #: Blobs of erased entries still indexed because a remaining snapshot uses them.
    retained: list[RetainedBlob] = field(default_factory=list)
    #: Blobs of erased entries still indexed although nothing uses them.
    orphaned: list[str] = field(default_factory=list)
    #: Blobs of erased entries no index entry points at any more, and their stored bytes.
    removed_blobs: int = 0
    removed_bytes: int = 0
    snapshots_checked: int = 0

    @property
    def verified(self) -> bool:
        """No snapshot lists a matching path and no index entry points at an erased blob
        that retained content does not use."""
        return not self.still_listed and not self.orphaned

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "snapshots_checked": self.snapshots_checked,
            "still_listed": [{"snapshot": s, "path": p} for s, p in self.still_listed],
            "retained_blobs": [item.to_dict() for item in self.retained],
            "orphaned_blobs": list(self.orphaned),
            "removed_blobs": self.removed_blobs,
            "removed_bytes": self.removed_bytes,
        }


def matching_entries(
    repo: Repository, snapshot: Snapshot, patterns: PatternSet, cancel: CancelToken = NEVER
) -> tuple[list[Entry], set[bytes]]:
    """Every entry of ``snapshot`` a pattern matches and every entry below a matching
    directory (parents first); and the trees that name one of them (the snapshot's root
    and each directory on the way), which a rewrite replaces."""
    found: list[Entry] = []
    matched_dirs: set[str] = set()
    trees = {"/": snapshot.tree}

    def inside(path: str) -> bool:
        return any(path.startswith(parent + "/") for parent in matched_dirs)

    def descend(entry: Entry) -> bool:
        path = entry.path
        return path in matched_dirs or inside(path) or patterns.may_match_below(path)

    for entry in walk(repo.blobs.load_tree, snapshot.tree, descend=descend, cancel=cancel):
        if entry.is_dir and entry.node.subtree is not None:
            trees[entry.path] = entry.node.subtree
        if inside(entry.path) or patterns.matches(entry.path):
            found.append(entry)
            if entry.is_dir:
                matched_dirs.add(entry.path)
    naming: set[bytes] = set()
    for entry in found:
        if inside(entry.path):
            continue  # its parent is erased whole
        for depth in range(len(entry.parts)):
            parent = "/" + "/".join(entry.parts[:depth])
            if parent in trees:
                naming.add(trees[parent])
    return found, naming


def plan_erasure(
    repo: Repository,
    patterns: PatternSet,
    snapshots: list[Snapshot],
    cancel: CancelToken = NEVER,
) -> ErasurePlan:
    """The snapshots of ``snapshots`` holding matching paths, and the blobs they use."""
    plan = ErasurePlan()
    index = repo.blobs.index
    for snapshot in snapshots:
        entries, naming = matching_entries(repo, snapshot, patterns, cancel)
        if not entries:
            continue
        plan.snapshots.append(AffectedSnapshot(snapshot.id, [e.path for e in entries]))
        plan.naming_trees |= naming
        for blob_id in [*naming, *(b for e in entries for b in _blobs_of(e))]:
            location = index.get(blob_id)
            plan.blobs[blob_id] = 0 if location is None else location.length
    return plan


def prove_erasure(
    repo: Repository, patterns: PatternSet, plan: ErasurePlan, cancel: CancelToken = NEVER
) -> ErasureProof:
    """Check every snapshot for matching paths and every planned blob against the index
    (reloaded): retained (used by a remaining snapshot, with one path using it),
    orphaned (indexed, unused: the erasure failed) or removed."""
    repo.blobs.load_index(reload=True)
    index = repo.blobs.index
    proof = ErasureProof()
    remaining = read_snapshots(repo, _unreadable, cancel)
    proof.snapshots_checked = len(remaining)
    for snapshot in remaining:
        for entry in matching_entries(repo, snapshot, patterns, cancel)[0]:
            proof.still_listed.append((snapshot.id, entry.path))
    indexed = {blob_id for blob_id in plan.blobs if blob_id in index}
    users = _users(repo, remaining, indexed, cancel)
    for blob_id, size in sorted(plan.blobs.items()):
        if blob_id not in indexed:
            proof.removed_blobs += 1
            proof.removed_bytes += size
        elif blob_id in users:
            snapshot_id, path = users[blob_id]
            proof.retained.append(RetainedBlob(blob_id.hex(), size, snapshot_id, path))
        else:
            proof.orphaned.append(blob_id.hex())
    return proof


def _blobs_of(entry: Entry) -> list[bytes]:
    """The blobs an entry uses itself: a file's content, a directory's tree."""
    node = entry.node
    if node.type == FILE:
        return list(node.content)
    if node.type == DIR and node.subtree is not None:
        return [node.subtree]
    return []


def _unreadable(snapshot_id: str, error: Exception) -> None:
    raise IntegrityError(f"snapshot {snapshot_id[:8]} cannot be read ({error}): erasure unproven")


def _users(
    repo: Repository, snapshots: list[Snapshot], wanted: set[bytes], cancel: CancelToken
) -> dict[bytes, tuple[str, str]]:
    """For each blob of ``wanted`` some remaining snapshot uses: (snapshot id, a path)."""
    users: dict[bytes, tuple[str, str]] = {}
    if not wanted:
        return users
    for snapshot in snapshots:
        if snapshot.tree in wanted and snapshot.tree not in users:
            users[snapshot.tree] = (snapshot.id, "/")
        for entry in walk(repo.blobs.load_tree, snapshot.tree, cancel=cancel):
            for blob_id in _blobs_of(entry):
                if blob_id in wanted and blob_id not in users:
                    users[blob_id] = (snapshot.id, entry.path)
        if len(users) == len(wanted):
            break
    return users


__all__ = [
    "AffectedSnapshot",
    "EraseOptions",
    "ErasurePlan",
    "ErasureProof",
    "RetainedBlob",
    "matching_entries",
    "plan_erasure",
    "prove_erasure",
]
