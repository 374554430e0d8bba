"""Assembling a snapshot tree from an archive's members (no file is written to disk).

Members arrive in archive order; directories they lie in but that have no entry of
their own are made (mode 0700). A member below a symlink or a file, a member that
replaces a directory, and a hard link to a member not seen before are refused, so the
stored tree is exactly what a safe extraction would produce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from keyark.errors import UnsafeArchiveError
from keyark.exchange.members import DIR, FILE, HARDLINK, SYMLINK, Member
from keyark.repo import tree

#: The mode of a directory an archive holds files in but has no entry for.
MADE_DIR_MODE = 0o700


@dataclass
class _Dir:
    node: tree.Node
    children: dict[str, _Dir | tree.Node] = field(default_factory=dict)


@dataclass
class Counts:
    """What an archive held."""

    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0


class TreeBuilder:
    """Builds the directory tree of one archive, then stores it bottom-up."""

    def __init__(self, what: str, mtime_ns: int) -> None:
        self._what = what
        self._mtime_ns = mtime_ns
        self._root = _Dir(tree.Node("", tree.DIR, mode=MADE_DIR_MODE, mtime_ns=mtime_ns))
        self._files: dict[str, tree.Node] = {}
        self.counts = Counts()

    def add(self, member: Member, content: list[bytes], size: int) -> None:
        """Add ``member`` (a file's ``content`` blob ids and stored ``size``)."""
        *parents, name = member.name.split("/")
        parent = self._directory(parents, member.name)
        node = tree.Node(
            name,
            tree.FILE,
            mode=member.mode,
            uid=member.uid,
            gid=member.gid,
            user=member.user,
            group=member.group,
            mtime_ns=member.mtime_ns,
            ctime_ns=member.mtime_ns,
        )
        existing = parent.children.get(name)
        if member.kind == DIR:
            node.type = tree.DIR
            if isinstance(existing, _Dir):
                existing.node = node
                return
            self._replace_check(existing, member)
            parent.children[name] = _Dir(node)
            self.counts.dirs += 1
            return
        self._replace_check(existing, member)
        if member.kind == SYMLINK:
            node.type, node.target = tree.SYMLINK, member.target
            self.counts.links += 1
        elif member.kind == HARDLINK:
            first = self._files.get(member.target)
            if first is None:
                raise UnsafeArchiveError(
                    f"{self._what}: refusing member {member.name!r}: it is a hard link to "
                    f"{member.target!r}, which is not a file before it in the archive"
                )
            node.content, node.size = list(first.content), first.size
            node.mode = first.mode
            self.counts.files += 1
        elif member.kind == FILE:
            node.content, node.size = content, size
            self.counts.files += 1
            self.counts.bytes += size
        parent.children[name] = node
        if node.type == tree.FILE:
            self._files[member.name] = node

    def _directory(self, parts: list[str], name: str) -> _Dir:
        """The directory ``parts`` (made when missing); refused when a part is not one."""
        current = self._root
        for part in parts:
            child = current.children.get(part)
            if child is None:
                made = tree.Node(part, tree.DIR, mode=MADE_DIR_MODE, mtime_ns=self._mtime_ns)
                child = current.children[part] = _Dir(made)
            if not isinstance(child, _Dir):
                raise UnsafeArchiveError(
                    f"{self._what}: refusing member {name!r}: it lies below {part!r}, "
                    f"which is a {child.type}, not a directory"
                )
            current = child
        return current

    def _replace_check(self, existing: _Dir | tree.Node | None, member: Member) -> None:
        if isinstance(existing, _Dir) and existing.children:
            raise UnsafeArchiveError(
                f"{self._what}: refusing member {member.name!r}: it replaces a directory "
                "that holds members"
            )

    @property
    def top_level(self) -> list[str]:
        """The archive's top-level names, as snapshot paths (``/keys``)."""
        return sorted("/" + name for name in self._root.children)

    def store(self, save_tree: Callable[[bytes], bytes]) -> bytes:
        """Store every directory (children first) and return the root tree's id."""
        return self._store(self._root, save_tree)

    def _store(self, directory: _Dir, save_tree: Callable[[bytes], bytes]) -> bytes:
        nodes: list[tree.Node] = []
        for name in sorted(directory.children):
            child = directory.children[name]
            if isinstance(child, _Dir):
                child.node.subtree = self._store(child, save_tree)
                nodes.append(child.node)
            else:
                nodes.append(child)
        return save_tree(tree.encode_tree(nodes))


__all__ = ["MADE_DIR_MODE", "Counts", "TreeBuilder"]
