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
from collections.abc import Callable
from dataclasses import dataclass, field

from keyark.errors import BackendError, IntegrityError, RestoreError, SnapshotNotFoundError
from keyark.repo.tree import DEVICES, DIR, FIFO, FILE, SYMLINK, Node


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One entry to restore, at ``parts`` below the target."""

    parts: tuple[str, ...]
    node: Node

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)


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


def find_subtree(
    load_tree: Callable[[bytes], list[Node]], root: bytes, subpath: str
) -> tuple[bytes, tuple[str, ...]]:
    """The tree id of directory ``subpath`` inside a snapshot, and its parts.

    Raises :class:`RestoreError` naming the directory whose listing is unreadable.
    """
    tree = root
    parts = tuple(p for p in subpath.split("/") if p)
    for depth, part in enumerate(parts):
        try:
            nodes = load_tree(tree)
        except (IntegrityError, BackendError) as error:
            where = "/" + "/".join(parts[:depth])
            raise RestoreError(
                f"directory {where} of the snapshot cannot be read ({error}); nothing below "
                "it can be restored (restore another snapshot, or run 'keyark repair index')"
            ) from None
        match = next((n for n in nodes if n.name == part), None)
        if match is None or match.type != DIR or match.subtree is None:
            raise SnapshotNotFoundError(f"path {subpath!r} is not a directory in the snapshot")
        tree = match.subtree
    return tree, parts


def build_plan(
    load_tree: Callable[[bytes], list[Node]],
    root: bytes,
    path_filter: PathFilter,
    base: tuple[str, ...] = (),
) -> RestorePlan:
    """Walk from ``root``; entries are placed relative to the target (without ``base``).

    A tree that cannot be loaded (an :class:`IntegrityError` or storage error) does
    not stop the walk: its directory is recorded in ``plan.unreadable`` as
    ``/path/...`` with the reason, and the rest of the snapshot is planned.
    """
    plan = RestorePlan()

    def walk(tree_id: bytes, rel: tuple[str, ...]) -> None:
        seen: set[str] = set()
        try:
            nodes = load_tree(tree_id)
        except (IntegrityError, BackendError) as error:
            where = "/".join((*base, *rel))
            plan.unreadable.append((f"/{where}/..." if where else "/...", str(error)))
            return
        for node in nodes:
            full = "/" + "/".join((*base, *rel, node.name))
            reason = unsafe_reason(node.name)
            if reason is None and node.name in seen:
                reason = f"entry name {node.name!r} appears twice in one directory"
            if reason is not None:
                plan.refused.append(f"{'/' + '/'.join((*base, *rel))}: {reason}; refused")
                continue
            seen.add(node.name)
            if path_filter.excluded(full):
                continue
            parts = (*rel, node.name)
            if node.type == DIR:
                if not path_filter.may_contain_included(full):
                    continue
                before = len(plan.files) + len(plan.symlinks) + len(plan.specials)
                plan.dirs.append(PlanEntry(parts, node))
                if node.subtree is not None:
                    walk(node.subtree, parts)
                if (
                    path_filter.includes
                    and not path_filter.included(full)
                    and len(plan.files) + len(plan.symlinks) + len(plan.specials) == before
                ):
                    plan.dirs.remove(PlanEntry(parts, node))
            elif path_filter.included(full):
                if node.type == FILE:
                    plan.files.append(PlanEntry(parts, node))
                elif node.type == SYMLINK:
                    plan.symlinks.append(PlanEntry(parts, node))
                elif node.type == FIFO or node.type in DEVICES:
                    plan.specials.append(PlanEntry(parts, node))

    walk(root, ())
    return plan
