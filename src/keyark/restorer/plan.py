"""Restore planning: walk a snapshot's trees, filter, and refuse unsafe names.

Every entry name must be one path component (no ``/``, not ``.`` or ``..``, no
NUL) and unique within its directory. Anything else could land outside the
target, so it is refused and reported, and never written.

Planning is tolerant of damage (issue 9): a directory whose listing cannot be
read is recorded as ``dir/...`` in :attr:`RestorePlan.unreadable` with the reason
and skipped; everything else is planned and restored.
"""

from __future__ import annotations

import fnmatch
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

    @property
    def total_bytes(self) -> int:
        return sum(entry.node.size for entry in self.files)


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
    """``--include`` / ``--exclude`` globs over snapshot paths (restic semantics)."""

    def __init__(self, includes: list[str], excludes: list[str]) -> None:
        self.includes = [p.rstrip("/") or "/" for p in includes]
        self.excludes = [p.rstrip("/") or "/" for p in excludes]

    @staticmethod
    def _match(pattern: str, path: str) -> bool:
        if "/" not in pattern:
            return any(fnmatch.fnmatchcase(part, pattern) for part in path.split("/") if part)
        if fnmatch.fnmatchcase(path, pattern):
            return True
        # A pattern naming a directory selects everything below it.
        parents = path.split("/")
        return any(
            fnmatch.fnmatchcase("/".join(parents[:i]), pattern) for i in range(2, len(parents))
        )

    def excluded(self, path: str) -> bool:
        return any(self._match(p, path) for p in self.excludes)

    def included(self, path: str) -> bool:
        return not self.includes or any(self._match(p, path) for p in self.includes)

    def may_contain_included(self, path: str) -> bool:
        """Could something below directory ``path`` be included?"""
        if not self.includes:
            return True
        for pattern in self.includes:
            if "/" not in pattern or self._match(pattern, path):
                return True
            prefix = path.rstrip("/") + "/"
            if pattern.startswith(prefix) or fnmatch.fnmatchcase(prefix, pattern[: len(prefix)]):
                return True
        return False


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
    plan = RestorePlan()
    #: Names seen per directory, and the directories planned (the walk descends into these).
    seen: dict[tuple[str, ...], set[str]] = {}
    planned: set[tuple[str, ...]] = set()

    def unreadable(parts: tuple[str, ...], error: Exception) -> None:
        where = "/".join((*base, *parts))
        plan.unreadable.append((f"/{where}/..." if where else "/...", str(error)))

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
            plan.refused.append(f"{'/' + '/'.join((*base, *parent))}: {reason}; refused")
            continue
        names.add(node.name)
        full = "/" + "/".join((*base, *entry.parts))
        if path_filter.excluded(full):
            continue
        if node.type == DIR:
            if path_filter.may_contain_included(full):
                plan.dirs.append(entry)
                planned.add(entry.parts)
        elif path_filter.included(full):
            if node.type == FILE:
                plan.files.append(entry)
            elif node.type == SYMLINK:
                plan.symlinks.append(entry)
            elif node.type == FIFO or node.type in DEVICES:
                plan.specials.append(entry)
    if path_filter.includes:
        # A directory that is not included itself stays only if something below it is.
        holding = {
            entry.parts[:depth]
            for entry in (*plan.files, *plan.symlinks, *plan.specials)
            for depth in range(1, len(entry.parts))
        }
        plan.dirs = [
            d
            for d in plan.dirs
            if d.parts in holding or path_filter.included("/" + "/".join((*base, *d.parts)))
        ]
    return plan
