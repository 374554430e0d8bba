"""``rewrite``: new snapshots without the excluded paths (removing a leaked secret).

Each selected snapshot's tree is rewritten top down without every entry an exclude
pattern (restic's rules, :class:`keyark.patterns.PatternSet`) matches; a directory
no pattern can match below is reused as it is, unread, and an unchanged tree keeps
its id. A snapshot with nothing excluded is left alone. The new snapshot keeps
time, host, paths and tags and records its original (:mod:`snapshot_edit`); without
``forget`` it is tagged ``rewrite`` (restic) and the original stays; with ``forget``
the original is deleted once every new snapshot is saved. The data only the
originals used stays in the packs until a prune removes it (a prune that tolerates
no unused space removes every byte of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from keyark.cancel import CancelToken
from keyark.context import OperationContext
from keyark.errors import KeyarkError, UsageError
from keyark.events import Code
from keyark.maintenance.snapshot_edit import (
    Change,
    Changes,
    Selection,
    replacement,
    save_replacements,
    stage_replacements,
)
from keyark.patterns import PatternSet, read_pattern_files
from keyark.repo.inventory import inventory_without, stored_inventory
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, Node, encode_tree

#: The tag restic adds to a rewritten snapshot when the original is kept.
REWRITE_TAG = "rewrite"


@dataclass(frozen=True)
class RewriteOptions(Selection):
    """Which snapshots to rewrite (ids, filters or all: the :class:`Selection`), what to
    exclude, and whether to delete the originals or change nothing."""

    exclude: Sequence[str] = ()
    iexclude: Sequence[str] = ()
    #: Files of exclude patterns (one a line).
    exclude_files: Sequence[str] = ()
    iexclude_files: Sequence[str] = ()
    #: Delete each original once its replacement is saved.
    forget: bool = False
    dry_run: bool = False

    def patterns(self) -> PatternSet:
        """Every exclude pattern, files read (:class:`UsageError` if there is none)."""
        patterns = PatternSet(
            [*self.exclude, *read_pattern_files(self.exclude_files)],
            insensitive=[*self.iexclude, *read_pattern_files(self.iexclude_files)],
        )
        if not patterns:
            raise UsageError("no exclude patterns given: nothing to rewrite")
        return patterns

    def validate(self) -> PatternSet:
        """Refuse empty requests before the repository is opened; the patterns."""
        self.refuse_empty("rewritten")
        return self.patterns()


@dataclass
class RewrittenSnapshot(Change):
    """One selected snapshot: its replacement (None if nothing was excluded) and the
    paths left out of it."""

    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether paths were left out (the snapshot is, or would be, replaced)."""
        return bool(self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "removed": list(self.removed)}


@dataclass
class RewriteResult(Changes[RewrittenSnapshot]):
    """What ``rewrite`` changed (or, in a dry run, would change)."""

    def to_dict(self) -> dict[str, Any]:
        return self.summary(
            snapshots_processed=len(self.snapshots), snapshots_rewritten=len(self.changed)
        )


class TreeFilter:
    """Rewrites trees without the entries ``patterns`` match, memoised per tree and path.

    In a dry run nothing is stored; the ids are what would be stored.
    """

    def __init__(
        self, repo: Repository, patterns: PatternSet, dry_run: bool, cancel: CancelToken
    ) -> None:
        self._repo = repo
        self._patterns = patterns
        self._dry_run = dry_run
        self._cancel = cancel
        self._done: dict[tuple[bytes, tuple[str, ...]], tuple[bytes, list[str]]] = {}

    def rewrite(self, tree_id: bytes, parts: tuple[str, ...] = ()) -> tuple[bytes, list[str]]:
        """(new tree id, absolute paths removed) of the tree ``tree_id`` at ``parts``."""
        key = (tree_id, parts)
        done = self._done.get(key)
        if done is not None:
            return done
        self._cancel.check()
        kept: list[Node] = []
        removed: list[str] = []
        for node in self._repo.blobs.load_tree(tree_id):
            path = "/" + "/".join((*parts, node.name))
            if self._patterns.matches(path):
                removed.append(path)
                continue
            if (
                node.type == DIR
                and node.subtree is not None
                and self._patterns.may_match_below(path)
            ):
                subtree, below = self.rewrite(node.subtree, (*parts, node.name))
                if below:
                    removed.extend(below)
                    node = replace(node, subtree=subtree)
            kept.append(node)
        new_id = self._save(kept) if removed else tree_id
        self._done[key] = (new_id, removed)
        return new_id, removed

    def _save(self, nodes: list[Node]) -> bytes:
        if self._dry_run:
            return self._repo.blobs.hasher(encode_tree(nodes))
        return self._repo.blobs.save_tree(nodes)[0]


def rewrite_snapshots(
    repo: Repository, options: RewriteOptions, ctx: OperationContext
) -> RewriteResult:
    """Rewrite the selected snapshots without the excluded paths (see the module).

    Every tree is written before any snapshot is saved; a tree that cannot be read
    stops the run before any snapshot is saved or deleted.
    """
    patterns = options.validate()
    result = RewriteResult(dry_run=options.dry_run)
    exclusive = options.forget and not options.dry_run
    with repo.lock("rewrite", exclusive=exclusive, retry=ctx.lock_wait) as lock:
        repo.blobs.load_index(reload=True)  # as of the lock: dedup against what is stored
        trees = TreeFilter(repo, patterns, options.dry_run, ctx.cancel)
        keyring = repo.keys.keyring

        def rewrite(snapshot: Snapshot) -> tuple[RewrittenSnapshot, Snapshot | None]:
            item = RewrittenSnapshot(snapshot.id)
            tree, item.removed = trees.rewrite(snapshot.tree)
            if not item.removed:
                return item, None
            tags = list(snapshot.tags)
            if not options.forget and REWRITE_TAG not in tags:
                tags.append(REWRITE_TAG)
            fresh = replacement(keyring, snapshot, tree=tree, tags=tags)
            fresh.inventory = _inventory_without(repo, snapshot, item.removed, ctx)
            return item, fresh

        pending = stage_replacements(repo, ctx, options, result, rewrite, progress="rewrite")
        if options.dry_run:
            return result
        repo.blobs.flush()  # the new trees are durable before any snapshot names them
        save_replacements(repo, pending, forget=options.forget, lock=lock, ctx=ctx)
    return result


def _inventory_without(
    repo: Repository, snapshot: Snapshot, removed: list[str], ctx: OperationContext
) -> bytes | None:
    """The snapshot's inventory (inside it or its sidecar) without the removed paths."""
    try:
        encoded = stored_inventory(snapshot, repo.inventories)
        if encoded is None:
            return None
        return inventory_without(encoded, removed, f"snapshot {snapshot.short_id}")
    except KeyarkError as error:
        ctx.events.warn(
            Code.INVENTORY,
            f"the inventory of snapshot {snapshot.short_id} is left out of its rewrite: {error}",
            subject=snapshot.id,
        )
        return None


__all__ = [
    "REWRITE_TAG",
    "RewriteOptions",
    "RewriteResult",
    "RewrittenSnapshot",
    "TreeFilter",
    "rewrite_snapshots",
]
