"""``ls``, ``find`` and ``diff``: browse snapshots through the catalog (metadata only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from keyark.catalog.browse import Change as Change
from keyark.catalog.browse import FindMatch as FindMatch
from keyark.catalog.browse import diff as tree_diff
from keyark.catalog.browse import find as find_matches
from keyark.catalog.browse import list_entries, restic_find_groups, rfc3339
from keyark.catalog.snapshots import browsing, choose_snapshots, find_snapshot
from keyark.catalog.trees import Entry as Entry
from keyark.context import OperationContext
from keyark.errors import KeyarkError, UsageError
from keyark.events import Code
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import Snapshot, SnapshotFilter
from keyark.repo.tree import exact_text

if TYPE_CHECKING:
    from keyark.catalog.inventories import FingerprintMatch


@dataclass
class LsOptions:
    """Which snapshot (id, prefix or ``latest``) and what of it to list.

    Without ``path``, every entry of the snapshot; with a directory, the directory and
    its direct children (everything below it when ``recursive``); with a file, the file.
    ``selection`` (host, tags, paths) narrows what ``latest`` picks from.
    """

    snapshot: str = "latest"
    path: str | None = None
    recursive: bool = False
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)


@dataclass
class Listing:
    """The entries of one snapshot that ``ls`` shows, parents before children."""

    snapshot: Snapshot
    entries: list[Entry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.describe(),
            "entries": [{**exact_text("path", e.path), **e.node.describe()} for e in self.entries],
        }

    def json_lines(self) -> list[dict[str, Any]]:
        """restic's ``ls --json`` shape: a snapshot object, then one object per node.

        Each carries ``struct_type`` and ``message_type`` (``snapshot`` or ``node``);
        the snapshot adds restic's ``hostname``, a node restic's ``permissions`` and
        RFC 3339 ``mtime`` to keyark's fields (whose ``mode`` is octal text).
        """
        head = {
            **self.snapshot.describe(),
            "hostname": self.snapshot.host,
            "struct_type": "snapshot",
            "message_type": "snapshot",
        }
        nodes = [
            {
                **e.node.describe(),
                **exact_text("path", e.path),
                "permissions": e.node.permissions(),
                "mtime": rfc3339(e.node.mtime_ns),
                "struct_type": "node",
                "message_type": "node",
            }
            for e in self.entries
        ]
        return [head, *nodes]


@operation("ls", options=LsOptions, result=Listing, mutates=False)
def ls(ctx: OperationContext, options: LsOptions) -> Listing:
    """List the entries of a snapshot (a directory and its children, or all)."""
    with opened(ctx) as repo:
        chosen = find_snapshot(repo, options.snapshot, ctx, options.selection)
        with browsing(repo, ctx) as load:
            entries = list_entries(load, chosen, options.path, options.recursive)
            return Listing(chosen, entries)


@dataclass
class FindOptions:
    """A glob on entry names (with ``/``: on full paths), in the chosen snapshots.

    ``snapshots`` (ids, prefixes or ``latest``) limits the search to those (``latest``
    narrowed by ``selection``); otherwise every snapshot ``selection`` matches is
    searched. ``oldest``/``newest`` bound the entries' modification time (restic's
    ``--oldest``/``--newest``). With ``fingerprint`` (``SHA256:<hex>``, bare hex or
    OpenSSH's ``SHA256:<base64>``) instead of a pattern: the snapshots and paths whose
    key and certificate inventory holds a key or certificate with that fingerprint or
    public-key fingerprint.
    """

    pattern: str = ""
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    snapshots: list[str] = field(default_factory=list)
    oldest: datetime | None = None
    newest: datetime | None = None
    fingerprint: str | None = None


@dataclass
class FindResult:
    """The matching entries, and how many snapshots were searched.

    ``to_dict()``: ``results`` is restic's ``find --json`` document (one
    ``{"matches", "hits", "snapshot"}`` per snapshot with hits), ``hits`` the total.
    """

    matches: list[FindMatch] = field(default_factory=list)
    snapshots: int = 0
    #: The fingerprint searched for (normalised), and what holds it.
    fingerprint: str | None = None
    fingerprint_matches: list[FingerprintMatch] = field(default_factory=list)
    #: Snapshots searched for a fingerprint that have no inventory.
    without_inventory: int = 0

    def json_groups(self) -> list[dict[str, Any]]:
        """restic's ``find --json`` document (what the CLI prints)."""
        return restic_find_groups(self.matches)

    def fingerprint_rows(self) -> list[dict[str, Any]]:
        """One object per snapshot and finding holding the fingerprint."""
        return [
            {
                "snapshot": m.snapshot.id,
                "short_id": m.snapshot.short_id,
                "time": m.snapshot.time.isoformat(),
                "trust": m.snapshot.extra.get("trust"),
                **m.finding.to_dict(),
            }
            for m in self.fingerprint_matches
        ]

    def to_dict(self) -> dict[str, Any]:
        if self.fingerprint is not None:
            return {
                "fingerprint": self.fingerprint,
                "results": self.fingerprint_rows(),
                "hits": len(self.fingerprint_matches),
                "snapshots": self.snapshots,
                "without_inventory": self.without_inventory,
            }
        return {
            "results": self.json_groups(),
            "hits": len(self.matches),
            "snapshots": self.snapshots,
        }


def _ns(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1_000_000_000)


@operation("find", options=FindOptions, result=FindResult, mutates=False)
def find(ctx: OperationContext, options: FindOptions) -> FindResult:
    """Find entries whose name matches a glob, across snapshots."""
    if options.fingerprint is not None:
        return _find_fingerprint(ctx, options)
    if not options.pattern:
        raise UsageError("give a pattern to look for (or a fingerprint)")
    with opened(ctx) as repo:
        chosen = choose_snapshots(repo, ctx, options.snapshots, options.selection)
        window = (_ns(options.oldest), _ns(options.newest))
        with browsing(repo, ctx) as load:
            found = find_matches(load, chosen, options.pattern, *window)
            return FindResult(found, len(chosen))


def _find_fingerprint(ctx: OperationContext, options: FindOptions) -> FindResult:
    """Every snapshot and path holding key material with ``options.fingerprint``."""
    from keyark.catalog.inventories import find_fingerprint  # parsers: only when asked
    from keyark.inventory.model import normalise_fingerprint

    assert options.fingerprint is not None
    wanted = normalise_fingerprint(options.fingerprint)
    if wanted is None:
        raise UsageError(
            f"fingerprint {options.fingerprint!r} is not SHA256:<hex>, bare hex or "
            "OpenSSH's SHA256:<base64>"
        )
    unreadable: list[tuple[Snapshot, KeyarkError]] = []
    missing: list[Snapshot] = []
    with opened(ctx) as repo:
        chosen = choose_snapshots(repo, ctx, options.snapshots, options.selection)
        found = list(find_fingerprint(repo, chosen, wanted, unreadable, missing))
    for snapshot, error in unreadable:
        ctx.events.warn(
            Code.INVENTORY,
            f"the inventory of snapshot {snapshot.short_id} cannot be read: {error}",
            subject=snapshot.id,
        )
    return FindResult(
        snapshots=len(chosen),
        fingerprint=wanted,
        fingerprint_matches=found,
        without_inventory=len(missing),
    )


@dataclass
class DiffOptions:
    """The two snapshots to compare (ids, prefixes or ``latest``, which ``selection``
    narrows)."""

    first: str
    second: str
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)


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
        first = find_snapshot(repo, options.first, ctx, options.selection)
        second = find_snapshot(repo, options.second, ctx, options.selection)
        with browsing(repo, ctx) as load:
            return DiffResult(first, second, list(tree_diff(load, first.tree, second.tree)))
