"""``ls``, ``find`` and ``diff``: browse snapshots through the catalog (metadata only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyark.catalog.browse import Change, FindMatch, list_entries
from keyark.catalog.browse import diff as tree_diff
from keyark.catalog.browse import find as find_matches
from keyark.catalog.snapshots import browsing, find_snapshot, list_snapshots
from keyark.catalog.trees import Entry
from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import Snapshot, SnapshotFilter


@dataclass
class LsOptions:
    """Which snapshot (id, prefix or ``latest``) and the path below which to list."""

    snapshot: str = "latest"
    path: str = "/"


@dataclass
class Listing:
    """The entries below a path of one snapshot, depth first."""

    snapshot: Snapshot
    entries: list[Entry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.describe(),
            "entries": [{"path": e.path, **e.node.describe()} for e in self.entries],
        }


@operation("ls", options=LsOptions, result=Listing, mutates=False)
def ls(ctx: OperationContext, options: LsOptions) -> Listing:
    """List the entries of a snapshot below a path."""
    with opened(ctx) as repo:
        chosen = find_snapshot(repo, options.snapshot, ctx)
        with browsing(repo, ctx) as load:
            return Listing(chosen, list_entries(load, chosen, options.path))


@dataclass
class FindOptions:
    """A glob on entry names (with ``/``: on full paths), in the chosen snapshots."""

    pattern: str
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)


@dataclass
class FindResult:
    """The matching entries, and how many snapshots were searched."""

    matches: list[FindMatch] = field(default_factory=list)
    snapshots: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"matches": [m.to_dict() for m in self.matches], "snapshots": self.snapshots}


@operation("find", options=FindOptions, result=FindResult, mutates=False)
def find(ctx: OperationContext, options: FindOptions) -> FindResult:
    """Find entries whose name matches a glob, across snapshots."""
    with opened(ctx) as repo:
        chosen = list_snapshots(repo, ctx, options.selection)
        with browsing(repo, ctx) as load:
            return FindResult(find_matches(load, chosen, options.pattern), len(chosen))


@dataclass
class DiffOptions:
    """The two snapshots to compare (ids, prefixes or ``latest``)."""

    first: str
    second: str


@dataclass
class DiffResult:
    """What changed from snapshot ``first`` to ``second``."""

    first: Snapshot
    second: Snapshot
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many changes of each kind (``+ - M T U``)."""
        return {code: sum(1 for c in self.changes if c.code == code) for code in "+-MTU"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.first.id,
            "to": self.second.id,
            "from_trust": self.first.extra.get("trust"),
            "to_trust": self.second.extra.get("trust"),
            "changes": [c.to_dict() for c in self.changes],
        }


@operation("diff", options=DiffOptions, result=DiffResult, mutates=False)
def diff(ctx: OperationContext, options: DiffOptions) -> DiffResult:
    """Show what changed between two snapshots."""
    with opened(ctx) as repo:
        first = find_snapshot(repo, options.first, ctx)
        second = find_snapshot(repo, options.second, ctx)
        with browsing(repo, ctx) as load:
            return DiffResult(first, second, list(tree_diff(load, first.tree, second.tree)))


__all__ = [
    "Change",
    "DiffOptions",
    "DiffResult",
    "Entry",
    "FindMatch",
    "FindOptions",
    "FindResult",
    "Listing",
    "LsOptions",
    "diff",
    "find",
    "ls",
]
