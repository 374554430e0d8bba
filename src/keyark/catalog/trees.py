"""The one snapshot tree walker: every entry with its path, or every tree once.

:func:`walk` visits a snapshot's entries depth first (a directory before what it
holds) with their path below the starting tree; the caller may stop it from
descending into a directory (:data:`Descend`) and may pass over directories whose
listing cannot be read (``on_error``). :func:`unique_trees` visits each tree id
reachable from some roots once (what stats, caches and reachability need).
``ls``, ``find``, ``diff``, ``dump`` and restore planning all walk with these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from keyark.cancel import NEVER, CancelToken
from keyark.errors import BackendError, IntegrityError, SnapshotNotFoundError
from keyark.repo.tree import DIR, Node

#: Loads a directory listing by tree id (the repository, or the catalog in front of it).
TreeLoader = Callable[[bytes], list[Node]]


@dataclass(frozen=True, slots=True)
class Entry:
    """A node and where it is: ``parts`` below the starting tree."""

    parts: tuple[str, ...]
    node: Node

    @property
    def path(self) -> str:
        """``/a/b/c`` (the parts joined below ``/``)."""
        return "/" + "/".join(self.parts)

    @property
    def is_dir(self) -> bool:
        return self.node.type == DIR

    def under(self, prefix: tuple[str, ...]) -> Entry:
        """The same entry with ``prefix`` in front of its parts."""
        return Entry((*prefix, *self.parts), self.node)


#: Whether the walk goes into the directory just yielded (asked after the caller saw it).
Descend = Callable[[Entry], bool]
#: Hears of a directory whose listing cannot be read: (its parts, the error).
OnError = Callable[[tuple[str, ...], Exception], None]


def _always(_entry: Entry) -> bool:
    return True


def walk(
    load: TreeLoader,
    root: bytes,
    *,
    descend: Descend = _always,
    on_error: OnError | None = None,
    cancel: CancelToken = NEVER,
) -> Iterator[Entry]:
    """Every entry below tree ``root``, depth first, parents before children.

    ``descend`` is asked after each directory was yielded (so the caller's view of it
    counts). A listing that cannot be read (an :class:`IntegrityError` or storage
    error) is given to ``on_error`` and passed over; without ``on_error`` it raises.
    """

    def visit(tree_id: bytes, parts: tuple[str, ...]) -> Iterator[Entry]:
        cancel.check()
        try:
            nodes = load(tree_id)
        except (IntegrityError, BackendError) as error:
            if on_error is None:
                raise
            on_error(parts, error)
            return
        for node in nodes:
            entry = Entry((*parts, node.name), node)
            yield entry
            if node.type == DIR and node.subtree is not None and descend(entry):
                yield from visit(node.subtree, entry.parts)

    return visit(root, ())


def unique_trees(
    load: TreeLoader,
    roots: Iterable[bytes],
    *,
    known: Callable[[bytes], bool] | None = None,
    cancel: CancelToken = NEVER,
) -> Iterator[tuple[bytes, list[Node]]]:
    """Each tree reachable from ``roots`` once, with its listing: (tree id, nodes).

    A tree ``known`` says is known already is not loaded, nor anything below it.
    """
    done: set[bytes] = set()
    stack = list(roots)
    while stack:
        tree_id = stack.pop()
        if tree_id in done or (known is not None and known(tree_id)):
            continue
        cancel.check()
        nodes = load(tree_id)
        done.add(tree_id)
        yield tree_id, nodes
        stack.extend(n.subtree for n in nodes if n.type == DIR and n.subtree is not None)


def split_path(path: str) -> tuple[str, ...]:
    """``/a//b/`` -> ``("a", "b")``."""
    return tuple(part for part in path.split("/") if part)


def resolve_path(load: TreeLoader, root: bytes, path: str) -> tuple[bytes | None, Node | None]:
    """Find ``path`` in a snapshot: (tree id if it is a directory, its node; None at ``/``)."""
    tree: bytes | None = root
    node: Node | None = None
    for part in split_path(path):
        if tree is None:
            raise SnapshotNotFoundError(f"path {path!r} is not in the snapshot")
        node = next((n for n in load(tree) if n.name == part), None)
        if node is None:
            raise SnapshotNotFoundError(f"path {path!r} is not in the snapshot")
        tree = node.subtree if node.type == DIR else None
    return tree, node


__all__ = [
    "Descend",
    "Entry",
    "OnError",
    "TreeLoader",
    "resolve_path",
    "split_path",
    "unique_trees",
    "walk",
]
