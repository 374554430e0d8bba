"""Listing, searching and comparing snapshots (``ls``, ``find``, ``diff``) over a tree loader."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from keyark.catalog.trees import Entry, TreeLoader, resolve_path, split_path, walk
from keyark.patterns import PatternSet
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, FILE, SYMLINK, Node, exact_text


def rfc3339(ns: int) -> str:
    """A time in ns since the epoch as RFC 3339 text in UTC, to the nanosecond, trailing
    zeros of the fraction dropped (Go's ``RFC3339Nano``, restic's ``mtime``)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def restic_node(path: str, node: Node) -> dict[str, Any]:
    """An entry in restic's ``find --json`` shape (``path``, ``permissions``, ``type``,
    ``mode``, ``mtime``, ``ctime``, ``uid``, ``gid``, ``user``, ``group``, ``device_id``,
    ``size`` and ``links`` for non-directories, ``linktarget``), plus keyark's fields.

    ``mode`` stays keyark's octal text; there is no ``atime`` (keyark does not store it),
    and ``ctime`` and ``device_id`` only where the snapshot recorded them: the documented
    differences.
    """
    view: dict[str, Any] = {
        **exact_text("path", path),
        "permissions": node.permissions(),
        "type": node.type,
        "mtime": rfc3339(node.mtime_ns),
    }
    if node.ctime_ns:
        view["ctime"] = rfc3339(node.ctime_ns)
    if node.device:
        view["device_id"] = node.device
    view.update(node.describe())
    if node.type == FILE:
        view["size"] = node.size
    if node.type != DIR:
        view["links"] = node.links
    if node.type == SYMLINK:
        view.update(exact_text("linktarget", node.target))
    return view


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


def restic_find_groups(matches: list[FindMatch]) -> list[dict[str, Any]]:
    """restic's ``find --json`` document: per snapshot with hits, in the order found,
    ``{"matches": [...], "hits": N, "snapshot": ID}`` (plus keyark's ``trust``)."""
    groups: dict[str, dict[str, Any]] = {}
    for match in matches:
        group = groups.setdefault(
            match.snapshot.id,
            {
                "matches": [],
                "hits": 0,
                "snapshot": match.snapshot.id,
                "trust": match.snapshot.extra.get("trust"),
            },
        )
        group["matches"].append(restic_node(match.path, match.node))
        group["hits"] += 1
    return list(groups.values())


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
