"""Listing, searching and comparing snapshots (``ls``, ``find``, ``diff``) over a tree loader."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from keyark.catalog.trees import Entry, TreeLoader, resolve_path, split_path, walk
from keyark.patterns import PatternSet
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, Node, exact_text


@dataclass(frozen=True)
class FindMatch:
    """One hit of ``find``."""

    snapshot: Snapshot
    path: str
    node: Node

    def to_dict(self) -> dict[str, object]:
        """``find --json``'s view of the hit."""
        return {
            "snapshot": self.snapshot.id,
            "trust": self.snapshot.extra.get("trust"),
            **exact_text("path", self.path),
            **self.node.describe(),
        }


@dataclass(frozen=True)
class Change:
    """A ``diff`` line: ``+`` added, ``-`` removed, ``M`` content, ``T`` type, ``U`` metadata."""

    code: str
    path: str

    def to_dict(self) -> dict[str, str]:
        """``{"modifier", "path"}`` (and ``raw_path`` for a path that is not UTF-8)."""
        return {"modifier": self.code, **exact_text("path", self.path)}


def list_entries(
    load: TreeLoader, snapshot: Snapshot, path: str | None = None, recursive: bool = False
) -> list[Entry]:
    """``ls`` (restic's rules): without ``path``, every entry of the snapshot; with a
    directory, that directory and its direct children (everything below it if
    ``recursive``); with a file, that file. ``/`` has no entry of its own."""
    if path is None:
        return list(walk(load, snapshot.tree))
    tree, node = resolve_path(load, snapshot.tree, path)
    prefix = split_path(path)
    if tree is None and node is not None:
        return [Entry(prefix, node)]
    found = [Entry(prefix, node)] if node is not None else []
    below = walk(load, tree or snapshot.tree, descend=lambda _entry: recursive)
    return found + [entry.under(prefix) for entry in below]


def _in_window(node: Node, oldest: int | None, newest: int | None) -> bool:
    """Whether ``node``'s modification time (ns) is within ``[oldest, newest]``."""
    return (oldest is None or node.mtime_ns >= oldest) and (
        newest is None or node.mtime_ns <= newest
    )


def find(
    load: TreeLoader,
    snapshots: list[Snapshot],
    pattern: str,
    oldest: int | None = None,
    newest: int | None = None,
) -> list[FindMatch]:
    """Entries whose name (or path, if the pattern has ``/``) matches, in every
    snapshot; ``oldest``/``newest`` (ns since the epoch) bound their modification time."""
    full = "/" in pattern
    # restic's rules for a pattern with "/": "*" stays in one component, "**" crosses,
    # a relative pattern matches at any depth. An entry inside a matching directory is
    # not a match of its own.
    selected = PatternSet([pattern])

    def path_matches(path: str) -> bool:
        parent = path.rsplit("/", 1)[0]
        return selected.matches(path) and not (parent and selected.matches(parent))

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
            hits = [(p, n) for p, n in everything(snapshot.tree) if path_matches(p)]
        else:
            hits = list(matches(snapshot.tree))
        results.extend(
            FindMatch(snapshot, path, node)
            for path, node in hits
            if _in_window(node, oldest, newest)
        )
    return results


def diff(
    load: TreeLoader, old: bytes, new: bytes, prefix: tuple[str, ...] = ()
) -> Iterator[Change]:
    """Changes from tree ``old`` to tree ``new`` (identical subtrees are skipped)."""
    if old == new:
        return
    before = {n.name: n for n in load(old)}
    after = {n.name: n for n in load(new)}
    for name in sorted(before.keys() | after.keys()):
        parts = (*prefix, name)
        path = "/" + "/".join(parts)
        a, b = before.get(name), after.get(name)
        if a is None and b is not None:
            yield from _whole("+", load, parts, b)
        elif b is None and a is not None:
            yield from _whole("-", load, parts, a)
        elif a is not None and b is not None:
            if a.type != b.type:
                yield Change("T", path)
            elif a.type == DIR:
                if (a.mode, a.uid, a.gid) != (b.mode, b.uid, b.gid):
                    yield Change("U", path + "/")
                if a.subtree is not None and b.subtree is not None:
                    yield from diff(load, a.subtree, b.subtree, parts)
            elif a.content != b.content or a.target != b.target:
                yield Change("M", path)
            elif (a.mode, a.uid, a.gid, a.mtime_ns) != (b.mode, b.uid, b.gid, b.mtime_ns):
                yield Change("U", path)


def _whole(code: str, load: TreeLoader, parts: tuple[str, ...], node: Node) -> Iterator[Change]:
    """An entry added or removed, and (a directory) everything below it."""
    path = "/" + "/".join(parts)
    yield Change(code, path + ("/" if node.type == DIR else ""))
    if node.type == DIR and node.subtree is not None:
        yield from (Change(code, e.under(parts).path) for e in walk(load, node.subtree))


__all__ = ["Change", "Entry", "FindMatch", "diff", "find", "list_entries"]
