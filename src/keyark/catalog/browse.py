"""Listing, searching and comparing snapshots through the catalog."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from keyark.errors import SnapshotNotFoundError
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, Node


@dataclass(frozen=True)
class Entry:
    """A node with its full path inside a snapshot."""

    path: str
    node: Node


@dataclass(frozen=True)
class FindMatch:
    """One hit of ``find``."""

    snapshot: Snapshot
    path: str
    node: Node


@dataclass(frozen=True)
class Change:
    """A ``diff`` line: ``+`` added, ``-`` removed, ``M`` content, ``T`` type, ``U`` metadata."""

    code: str
    path: str


TreeLoader = Callable[[bytes], list[Node]]


def walk(load: TreeLoader, tree_id: bytes, prefix: str = "") -> Iterator[Entry]:
    """Every entry below ``tree_id`` in depth-first order."""
    for node in load(tree_id):
        path = f"{prefix}/{node.name}"
        yield Entry(path, node)
        if node.type == DIR and node.subtree is not None:
            yield from walk(load, node.subtree, path)


def resolve_path(load: TreeLoader, root: bytes, path: str) -> tuple[bytes | None, Node | None]:
    """Find ``path`` in a snapshot: (tree id if it is a directory, its node)."""
    parts = [p for p in path.split("/") if p]
    tree: bytes | None = root
    node: Node | None = None
    for part in parts:
        if tree is None:
            raise SnapshotNotFoundError(f"path {path!r} is not in the snapshot")
        node = next((n for n in load(tree) if n.name == part), None)
        if node is None:
            raise SnapshotNotFoundError(f"path {path!r} is not in the snapshot")
        tree = node.subtree if node.type == DIR else None
    return tree, node


def list_entries(load: TreeLoader, snapshot: Snapshot, path: str = "/") -> list[Entry]:
    """``ls``: everything below ``path`` (or the single entry if it is a file)."""
    tree, node = resolve_path(load, snapshot.tree, path)
    prefix = "/" + "/".join(p for p in path.split("/") if p)
    if tree is None and node is not None:
        return [Entry(prefix, node)]
    return list(walk(load, tree or snapshot.tree, "" if prefix == "/" else prefix))


def find(load: TreeLoader, snapshots: list[Snapshot], pattern: str) -> list[FindMatch]:
    """Entries whose name (or full path, if the pattern has ``/``) matches, in every snapshot."""
    full = "/" in pattern

    @cache
    def matches(tree_id: bytes) -> tuple[tuple[str, Node], ...]:
        found: list[tuple[str, Node]] = []
        for node in load(tree_id):
            if not full and fnmatch.fnmatchcase(node.name, pattern):
                found.append(("/" + node.name, node))
            if node.type == DIR and node.subtree is not None:
                found.extend(("/" + node.name + sub, n) for sub, n in matches(node.subtree))
        return tuple(found)

    @cache
    def everything(tree_id: bytes) -> tuple[tuple[str, Node], ...]:
        return tuple((entry.path, entry.node) for entry in walk(load, tree_id))

    results: list[FindMatch] = []
    for snapshot in snapshots:
        if full:
            hits = [(p, n) for p, n in everything(snapshot.tree) if fnmatch.fnmatchcase(p, pattern)]
        else:
            hits = list(matches(snapshot.tree))
        results.extend(FindMatch(snapshot, path, node) for path, node in hits)
    return results


def diff(load: TreeLoader, old: bytes, new: bytes, prefix: str = "") -> Iterator[Change]:
    """Changes from tree ``old`` to tree ``new`` (identical subtrees are skipped)."""
    if old == new:
        return
    before = {n.name: n for n in load(old)}
    after = {n.name: n for n in load(new)}
    for name in sorted(before.keys() | after.keys()):
        path = f"{prefix}/{name}"
        a, b = before.get(name), after.get(name)
        if a is None and b is not None:
            yield Change("+", path + ("/" if b.type == DIR else ""))
            if b.type == DIR and b.subtree is not None:
                yield from (Change("+", e.path) for e in walk(load, b.subtree, path))
        elif b is None and a is not None:
            yield Change("-", path + ("/" if a.type == DIR else ""))
            if a.type == DIR and a.subtree is not None:
                yield from (Change("-", e.path) for e in walk(load, a.subtree, path))
        elif a is not None and b is not None:
            if a.type != b.type:
                yield Change("T", path)
            elif a.type == DIR:
                if (a.mode, a.uid, a.gid) != (b.mode, b.uid, b.gid):
                    yield Change("U", path + "/")
                if a.subtree is not None and b.subtree is not None:
                    yield from diff(load, a.subtree, b.subtree, path)
            elif a.content != b.content or a.target != b.target:
                yield Change("M", path)
            elif (a.mode, a.uid, a.gid, a.mtime_ns) != (b.mode, b.uid, b.gid, b.mtime_ns):
                yield Change("U", path)
