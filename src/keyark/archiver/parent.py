"""The parent snapshot's listing of a directory, compared without building nodes.

An incremental backup stats every entry and compares it with the parent snapshot's
entry of the same name. Parsing every parent entry into a checked
:class:`~keyark.repo.tree.Node` costs more than the stat itself, so the parent's
tree is only decoded from msgpack (a blob that opened under the key is
authentic) and each field is checked where it is used: the content ids reused
for an unchanged file, the subtree id walked into, the extended attributes and
link target reused for an unchanged inode. A listing whose shape is wrong counts
as no parent (every file is read again, as for a damaged parent).

A directory whose new entries encode exactly as the parent's (same names, every
entry's map equal to the parent's) has the parent's tree: its id is reused.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from keyark.errors import BackendError, IntegrityError
from keyark.repo.blob_store import BlobStore
from keyark.repo.fields import ID_LENGTH, unpack_msgpack
from keyark.repo.index import BlobLocation
from keyark.repo.tree import (
    DIR,
    FILE,
    MAX_TARGET_BYTES,
    MAX_XATTR_NAME,
    MAX_XATTR_VALUE,
    MAX_XATTRS,
    SYMLINK,
    TREE_VERSION,
    Node,
)

#: One entry of a parent listing: the msgpack map a :class:`Node` encodes to.
Entry = dict[str, Any]
#: How many sibling trees are read ahead together (bounds the memory they hold).
READ_AHEAD = 256
#: Trees of one pack read in one request: at most this far apart, this much in all.
MAX_GAP = 64 * 1024
MAX_SPAN = 4 * 1024 * 1024


class ParentTrees:
    """Reads the parent snapshot's trees: a directory's subdirectories' trees are read
    ahead together, those stored near each other in one pack read (one request instead
    of one per directory). Every copy is verified as :meth:`BlobStore.load_blob` does;
    one that cannot be read ahead is loaded alone when it is needed."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        #: Plain tree blobs read ahead and not yet taken.
        self._ahead: dict[bytes, bytes] = {}

    def load(self, tree_id: bytes) -> bytes:
        """The plain tree blob ``tree_id`` (read ahead, else read now)."""
        data = self._ahead.pop(tree_id, None)
        return data if data is not None else self._blobs.load_blob(tree_id)

    def read_ahead(self, tree_ids: list[bytes]) -> None:
        """Read the trees ``tree_ids`` now, each pack's in as few requests as it takes."""
        by_pack: defaultdict[bytes, list[BlobLocation]] = defaultdict(list)
        for tree_id in tree_ids:
            location = self._blobs.index.get(tree_id)
            if location is not None and tree_id not in self._ahead:
                by_pack[location.pack_id].append(location)
        for pack_id, locations in by_pack.items():
            locations.sort(key=lambda location: location.offset)
            for span in _spans(locations):
                self._read_span(pack_id, span)

    def _read_span(self, pack_id: bytes, span: list[BlobLocation]) -> None:
        start = span[0].offset
        try:
            data = memoryview(
                self._blobs.packs.read(pack_id, start, span[-1].offset + span[-1].length - start)
            )
        except BackendError:
            return
        for location in span:
            sealed = data[location.offset - start : location.offset - start + location.length]
            if len(sealed) != location.length:
                continue
            try:
                self._ahead[location.blob_id] = self._blobs.decode_or_fetch(location, sealed)
            except (IntegrityError, BackendError):
                continue


def _spans(locations: list[BlobLocation]) -> list[list[BlobLocation]]:
    """``locations`` (of one pack, by offset) cut where they are far apart or too many."""
    spans: list[list[BlobLocation]] = []
    for location in locations:
        if spans:
            first, last = spans[-1][0], spans[-1][-1]
            end = location.offset + location.length
            if location.offset - (last.offset + last.length) <= MAX_GAP and (
                end - first.offset <= MAX_SPAN
            ):
                spans[-1].append(location)
                continue
        spans.append([location])
    return spans


class ParentListing:
    """One directory of the parent snapshot: its entries' maps by name."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[str, Entry]) -> None:
        self._entries = entries

    @classmethod
    def decode(cls, data: bytes) -> ParentListing | None:
        """The listing in tree blob ``data``; None when it is not a tree of this version
        with one map per entry and unique names."""
        document = unpack_msgpack(data, "parent tree")
        if not isinstance(document, dict) or document.get("v") != TREE_VERSION:
            return None
        items = document.get("nodes")
        if not isinstance(items, list):
            return None
        entries: dict[str, Entry] = {}
        for item in items:
            if not isinstance(item, dict):
                return None
            name = item.get("n")
            if not isinstance(name, bytes) or not name:
                return None
            entries[os.fsdecode(name)] = item
        if len(entries) != len(items):
            return None
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> Entry | None:
        """The parent's entry ``name``, if it had one."""
        return self._entries.get(name)

    def same_as(self, nodes: list[Node]) -> bool:
        """Whether ``nodes`` encode exactly to this listing (so to the parent's tree)."""
        if len(nodes) != len(self._entries):
            return False
        entries = self._entries
        return all(entries.get(node.name) == node.to_dict() for node in nodes)


def unchanged_content(entry: Entry | None, st: os.stat_result) -> list[bytes] | None:
    """The content ids of the parent's file ``entry`` when ``st`` is that file unchanged
    (same size, mtime, ctime and inode); None otherwise."""
    if (
        entry is None
        or entry.get("t") != FILE
        or entry.get("s") != st.st_size
        or entry.get("mt") != st.st_mtime_ns
        or entry.get("ct") != st.st_ctime_ns
        or entry.get("i") != st.st_ino
    ):
        return None
    content = entry.get("c")
    if not isinstance(content, list):
        return None
    for blob_id in content:
        if type(blob_id) is not bytes or len(blob_id) != ID_LENGTH:
            return None
    return list(content)


def same_inode(entry: Entry | None, st: os.stat_result, kind: str) -> bool:
    """Whether ``st`` is the parent's ``entry`` unchanged as an inode (same type, inode
    number and ctime, which every change of extended attributes or ACLs updates)."""
    return (
        entry is not None
        and entry.get("t") == kind
        and entry.get("i") == st.st_ino
        and entry.get("ct") == st.st_ctime_ns
    )


def inode_metadata(entry: Entry) -> tuple[str, dict[str, bytes]] | None:
    """The link target (``""`` for all but symlinks) and extended attributes the
    parent's ``entry`` recorded, if well formed; None to read them again."""
    xattrs = entry.get("x")
    if xattrs is None and entry.get("t") != SYMLINK:
        return "", {}  # the common case: nothing to check
    target = ""
    if entry.get("t") == SYMLINK:
        raw = entry.get("lt")
        if type(raw) is not bytes or len(raw) > MAX_TARGET_BYTES or b"\0" in raw:
            return None
        target = os.fsdecode(raw)
    xattrs = {} if xattrs is None else xattrs
    if not isinstance(xattrs, dict) or len(xattrs) > MAX_XATTRS:
        return None
    for key, value in xattrs.items():
        if type(key) is not str or not 0 < len(key) <= MAX_XATTR_NAME:
            return None
        if type(value) is not bytes or len(value) > MAX_XATTR_VALUE:
            return None
    return target, xattrs


def subtree(entry: Entry | None) -> bytes | None:
    """The tree id of the parent's directory ``entry`` (None: none, or not a directory)."""
    if entry is None or entry.get("t") != DIR:
        return None
    tree_id = entry.get("st")
    if type(tree_id) is not bytes or len(tree_id) != ID_LENGTH:
        return None
    return tree_id


__all__ = [
    "READ_AHEAD",
    "Entry",
    "ParentListing",
    "ParentTrees",
    "inode_metadata",
    "same_inode",
    "subtree",
    "unchanged_content",
]
