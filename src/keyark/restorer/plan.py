"""Restore planning: walk a snapshot's trees, filter, and refuse unsafe names.

Every entry name must be one path component (no ``/``, not ``.`` or ``..``, no
NUL) and unique within its directory. Anything else could land outside the
target, so it is refused and reported, and never written.

Planning is tolerant of damage (issue 9): a directory whose listing cannot be
read is recorded as ``dir/...`` in :attr:`RestorePlan.unreadable` with the reason
and skipped; everything else is planned and restored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from keyark.cancel import NEVER, CancelToken
from keyark.catalog.trees import Entry, TreeLoader, split_path, walk
from keyark.errors import (
    BackendError,
    Hint,
    IntegrityError,
    RestoreError,
    SnapshotNotFoundError,
)
from keyark.patterns import PatternSet
from keyark.repo.tree import DEVICES, DIR, FIFO, FILE, SYMLINK

#: One entry to restore, at ``parts`` below the target.
PlanEntry = Entry


@dataclass
class RestorePlan:
    """Everything to restore, in walk order (parents before children)."""

    dirs: list[PlanEntry] = field(default_factory=list)
    files: list[PlanEntry] = field(default_factory=list)
    symlinks: list[PlanEntry] = field(default_factory=list)
    #: FIFOs and device nodes.
    specials: list[PlanEntry] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: Directories whose listing could not be read: (``/dir/...``, reason).
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: The snapshot directory restored (``SNAPSHOT:DIR``), empty for the whole snapshot.
    base: tuple[str, ...] = ()
    #: Directories an include pattern selects themselves (not only as parents).
    included_dirs: int = 0
    #: The snapshot's names in each directory the walk listed (parts below the target),
    #: planned or not: what ``--delete`` keeps. Unreadable directories are not here.
    listed: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(entry.node.size for entry in self.files)

    @property
    def empty(self) -> bool:
        """Nothing selected: at most the directories above excluded entries.

        (No file, symlink or special; no directory an include names; nothing
        refused or unreadable.)
        """
        return not (
            self.files
            or self.symlinks
            or self.specials
            or self.included_dirs
            or self.refused
            or self.unreadable
        )

    def shown(self, parts: Sequence[str]) -> str:
        """How to name the entry at ``parts`` below the target in messages.

        The snapshot path (``/home/u/tls``) for a whole snapshot; relative to the
        restored directory (``tls``, ``.`` for itself) for a ``SNAPSHOT:DIR`` restore.
        """
        return shown_path(self.base, parts)


def shown_path(base: Sequence[str], parts: Sequence[str]) -> str:
    """``/a/b`` for a whole-snapshot restore, ``a/b`` below a restored directory ``base``."""
    if base:
        return "/".join(parts) or "."
    return "/" + "/".join(parts)


def unsafe_reason(name: str) -> str | None:
    """Why ``name`` cannot be a single safe path component, or None if it can."""
    if name in ("", ".", ".."):
        return f"entry name {name!r} is not allowed"
    if "/" in name:
        return f"entry name {name!r} contains a path separator"
    if "\x00" in name:
        return "entry name contains a NUL byte"
    return None


class PathFilter:
    """Include and exclude patterns over snapshot paths (restic's rules, :mod:`keyark.patterns`).

    An entry is restored when no exclude matches it (or a directory above it) and,
    if there are includes, one matches it or a directory above it.
    """

    def __init__(
        self,
        includes: Sequence[str] = (),
        excludes: Sequence[str] = (),
        *,
        iincludes: Sequence[str] = (),
        iexcludes: Sequence[str] = (),
    ) -> None:
        self.includes = PatternSet(includes, insensitive=iincludes)
        self.excludes = PatternSet(excludes, insensitive=iexcludes)

    def __bool__(self) -> bool:
        return bool(self.includes or self.excludes)

    def excluded(self, path: str) -> bool:
        """Whether an exclude matches ``path`` (absolute in the snapshot)."""
        return self.excludes.matches(path)

    def included(self, path: str) -> bool:
        """Whether the includes (if any) select ``path``."""
        return not self.includes or self.includes.matches(path)

    def may_contain_included(self, path: str) -> bool:
        """Could something below directory ``path`` be included?"""
        return not self.includes or self.includes.may_match_below(path)


def find_subtree(load_tree: TreeLoader, root: bytes, subpath: str) -> tuple[bytes, tuple[str, ...]]:
    """The tree id of directory ``subpath`` inside a snapshot, and its parts.

    Raises :class:`RestoreError` naming the directory whose listing is unreadable.
    """
    tree = root
    parts = split_path(subpath)
    for depth, part in enumerate(parts):
        try:
            nodes = load_tree(tree)
        except (IntegrityError, BackendError) as error:
            where = "/" + "/".join(parts[:depth])
            raise RestoreError(
                f"directory {where} of the snapshot cannot be read ({error}); nothing below "
                "it can be restored (restore another snapshot, or repair the index)",
                hint=Hint.REPAIR_INDEX,
            ) from None
        match = next((n for n in nodes if n.name == part), None)
        if match is None or match.type != DIR or match.subtree is None:
            raise SnapshotNotFoundError(f"path {subpath!r} is not a directory in the snapshot")
        tree = match.subtree
    return tree, parts


def build_plan(
    load_tree: TreeLoader,
    root: bytes,
    path_filter: PathFilter,
    base: tuple[str, ...] = (),
    cancel: CancelToken = NEVER,
) -> RestorePlan:
    """Walk from ``root``; entries are placed relative to the target (without ``base``).

    A tree that cannot be loaded (an :class:`IntegrityError` or storage error) does
    not stop the walk: its directory is recorded in ``plan.unreadable`` as
    ``/path/...`` with the reason, and the rest of the snapshot is planned.
    """
    plan = RestorePlan(base=base)
    #: Names seen per directory, and the directories planned (the walk descends into these).
    seen = plan.listed
    seen[()] = set()
    planned: set[tuple[str, ...]] = set()
    unlisted: set[tuple[str, ...]] = set()

    def unreadable(parts: tuple[str, ...], error: Exception) -> None:
        where = shown_path(base, parts)
        plan.unreadable.append((f"{where.rstrip('/')}/...", str(error)))
        unlisted.add(parts)

    entries = walk(
        load_tree, root, descend=lambda e: e.parts in planned, on_error=unreadable, cancel=cancel
    )
    for entry in entries:
        node, parent = entry.node, entry.parts[:-1]
        names = seen.setdefault(parent, set())
        reason = unsafe_reason(node.name)
        if reason is None and node.name in names:
            reason = f"entry name {node.name!r} appears twice in one directory"
        if reason is not None:
            plan.refused.append(f"{shown_path(base, parent)}: {reason}; refused")
            continue
        names.add(node.name)
        full = "/" + "/".join((*base, *entry.parts))
        if path_filter.excluded(full):
            continue
        if node.type == DIR:
            if path_filter.may_contain_included(full):
                plan.dirs.append(entry)
                planned.add(entry.parts)
                seen.setdefault(entry.parts, set())
        elif path_filter.included(full):
            if node.type == FILE:
                plan.files.append(entry)
            elif node.type == SYMLINK:
                plan.symlinks.append(entry)
            elif node.type == FIFO or node.type in DEVICES:
                plan.specials.append(entry)
    for parts in unlisted:
        seen.pop(parts, None)  # its names are unknown: --delete leaves it alone
    if path_filter.includes:
        # A directory that is not included itself stays only if something below it is.
        included_dirs = [
            d for d in plan.dirs if path_filter.included("/" + "/".join((*base, *d.parts)))
        ]
        holding = {
            entry.parts[:depth]
            for entry in (*plan.files, *plan.symlinks, *plan.specials, *included_dirs)
            for depth in range(1, len(entry.parts) + 1)
        }
        plan.dirs = [d for d in plan.dirs if d.parts in holding]
        plan.included_dirs = len(included_dirs)
    return plan
