"""Directory listings (tree blobs): deterministic, sorted, compact.

A node is one directory entry. Serialisation is msgpack of the nodes sorted by
name with sorted keys, so identical directories give identical blobs and dedup.
Names are stored as bytes (POSIX names need not be UTF-8).
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass, field
from typing import Any

import msgpack

from keyark.repo.fields import (
    INT64_MAX,
    INT64_MIN,
    UINT32_MAX,
    UINT64_MAX,
    Fields,
    malformed_object,
    require_bytes,
    require_id,
    require_str,
    unpack_msgpack,
)

FILE = "file"
DIR = "dir"
SYMLINK = "symlink"
FIFO = "fifo"
CHARDEV = "chardev"
BLOCKDEV = "blockdev"
#: Device nodes: they carry ``rdev``, the device number.
DEVICES = (CHARDEV, BLOCKDEV)
NODE_TYPES = (FILE, DIR, SYMLINK, FIFO, CHARDEV, BLOCKDEV)
TREE_VERSION = 1
#: The ``ls -l`` type letter of each node type (regular files: ``-``).
TYPE_LETTERS = {DIR: "d", SYMLINK: "l", FIFO: "p", CHARDEV: "c", BLOCKDEV: "b"}
#: The file-type bits of ``st_mode`` for each node type.
TYPE_BITS = {
    FILE: stat.S_IFREG,
    DIR: stat.S_IFDIR,
    SYMLINK: stat.S_IFLNK,
    FIFO: stat.S_IFIFO,
    CHARDEV: stat.S_IFCHR,
    BLOCKDEV: stat.S_IFBLK,
}

MAX_NAME_BYTES = 4096
MAX_TARGET_BYTES = 4096
MAX_OWNER_CHARS = 256
MAX_MODE = 0o7777
MAX_XATTRS = 1024
MAX_XATTR_NAME = 255
MAX_XATTR_VALUE = 65536


@dataclass(slots=True)
class Node:
    """One entry of a directory."""

    name: str
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    mtime_ns: int = 0
    ctime_ns: int = 0
    size: int = 0
    inode: int = 0
    device: int = 0
    links: int = 1
    content: list[bytes] = field(default_factory=list)
    subtree: bytes | None = None
    target: str = ""
    xattrs: dict[str, bytes] = field(default_factory=dict)
    #: Device number of a device node (``st_rdev``); 0 for every other type.
    rdev: int = 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "n": os.fsencode(self.name),
            "t": self.type,
            "m": self.mode,
            "u": self.uid,
            "g": self.gid,
            "un": self.user,
            "gn": self.group,
            "mt": self.mtime_ns,
            "ct": self.ctime_ns,
            "i": self.inode,
        }
        if self.type == FILE:
            data["s"] = self.size
            data["c"] = self.content
            if self.links > 1:
                data["l"] = self.links
                data["d"] = self.device
        elif self.type == DIR:
            data["st"] = self.subtree
        elif self.type == SYMLINK:
            data["lt"] = os.fsencode(self.target)
        elif self.type in DEVICES and self.rdev:
            data["r"] = self.rdev
        if self.xattrs:
            data["x"] = self.xattrs
        return data

    @classmethod
    def from_dict(cls, data: object, what: str = "tree") -> Node:
        """Parse one entry of the tree named ``what``; any bad field is a FormatError.

        Every field is checked for type and range: name (bytes, no '/' or NUL, not '.'
        or '..'), type (file, dir, symlink, fifo, chardev or blockdev), mode, ids and
        times as bounded integers, content as 32-byte ids, subtree as a 32-byte id or
        null, link target, a device's rdev as an unsigned 64-bit integer, xattrs as a
        bounded map of str to bytes. Fields that do not belong to the entry's type are
        ignored.
        """
        fields = Fields(data, f"{what} entry")
        name = _entry_name(fields.get_bytes("n", max_len=MAX_NAME_BYTES), fields.name("n"))
        fields.what = f"{what} entry {name!r}"
        node_type = fields.get_str("t", max_len=16)
        if node_type not in NODE_TYPES:
            raise malformed_object(f"{fields.what} has an unknown type: the tree is malformed")
        node = cls(
            name=name,
            type=node_type,
            mode=fields.get_int("m", 0, MAX_MODE, default=0),
            uid=fields.get_int("u", 0, UINT32_MAX, default=0),
            gid=fields.get_int("g", 0, UINT32_MAX, default=0),
            user=fields.get_str("un", "", max_len=MAX_OWNER_CHARS),
            group=fields.get_str("gn", "", max_len=MAX_OWNER_CHARS),
            mtime_ns=fields.get_int("mt", INT64_MIN, INT64_MAX, default=0),
            ctime_ns=fields.get_int("ct", INT64_MIN, INT64_MAX, default=0),
            inode=fields.get_int("i", 0, UINT64_MAX, default=0),
            xattrs=_xattrs(fields),
        )
        if node_type == FILE:
            node.size = fields.get_int("s", 0, INT64_MAX, default=0)
            node.content = fields.get_list_of("c", require_id, default=[])
            node.links = fields.get_int("l", 1, UINT32_MAX, default=1)
            node.device = fields.get_int("d", 0, UINT64_MAX, default=0)
        elif node_type == DIR:
            node.subtree = fields.get_optional("st", require_id)
        elif node_type == SYMLINK:
            target = fields.get_bytes("lt", max_len=MAX_TARGET_BYTES)
            if b"\0" in target:
                raise malformed_object(
                    f"{fields.what} has a link target with a NUL byte: the tree is malformed"
                )
            node.target = os.fsdecode(target)
        elif node_type in DEVICES:
            node.rdev = fields.get_int("r", 0, UINT64_MAX, default=0)
        return node

    def permissions(self) -> str:
        """``drwxr-x---``: the ``ls -l`` type letter and the permission bits."""
        bits = "".join(
            char if self.mode & (1 << (8 - i)) else "-" for i, char in enumerate("rwxrwxrwx")
        )
        return TYPE_LETTERS.get(self.type, "-") + bits

    def describe(self) -> dict[str, Any]:
        """JSON-friendly view for listings and ``debug cat``.

        A name (or link target) that is not UTF-8 is shown escaped, with its exact
        bytes next to it (see :func:`exact_text`).
        """
        view: dict[str, Any] = {
            **exact_text("name", self.name),
            "type": self.type,
            "mode": f"{self.mode:04o}",
            "uid": self.uid,
            "gid": self.gid,
            "user": self.user,
            "group": self.group,
            "mtime_ns": self.mtime_ns,
        }
        if self.type == FILE:
            view["size"] = self.size
            view["content"] = [blob.hex() for blob in self.content]
        elif self.type == DIR and self.subtree is not None:
            view["subtree"] = self.subtree.hex()
        elif self.type == SYMLINK:
            view.update(exact_text("target", self.target))
        elif self.type in DEVICES:
            view["rdev"] = self.rdev
        if self.xattrs:
            view["xattrs"] = sorted(self.xattrs)
        return view


def escape_bytes(text: str) -> str:
    """``text`` with each byte that was not UTF-8 (a surrogate escape) shown as ``\\xNN``.

    Names are bytes on POSIX systems and are decoded with ``os.fsdecode``; this is
    their display form (valid Unicode, so it can be printed and put in JSON).
    """
    if text.isprintable() or not any(0xDC80 <= ord(char) <= 0xDCFF for char in text):
        return text
    return "".join(
        f"\\x{ord(char) - 0xDC00:02x}" if 0xDC80 <= ord(char) <= 0xDCFF else char for char in text
    )


def exact_text(key: str, text: str) -> dict[str, str]:
    """``{key: text}``; for a name or path that is not UTF-8, ``{key: escaped, "raw_" + key:
    base64 of its exact bytes}`` (the escaped form is for reading, the raw one is exact)."""
    escaped = escape_bytes(text)
    if escaped == text:
        return {key: text}
    return {key: escaped, f"raw_{key}": base64.b64encode(os.fsencode(text)).decode("ascii")}


def encode_tree(nodes: list[Node]) -> bytes:
    """Serialise a directory deterministically."""
    ordered = sorted(nodes, key=lambda node: os.fsencode(node.name))
    payload = [node.to_dict() for node in ordered]
    return bytes(msgpack.packb({"v": TREE_VERSION, "nodes": payload}, use_bin_type=True))


def _entry_name(raw: bytes, name: str) -> str:
    """Check a directory-entry name (one path component) and decode it."""
    if not raw or raw in (b".", b"..") or b"/" in raw or b"\0" in raw:
        raise malformed_object(
            f"{name} is not a valid file name (empty, '.', '..', or holding '/' or NUL): "
            "the tree is malformed"
        )
    return os.fsdecode(raw)


def _xattrs(fields: Fields) -> dict[str, bytes]:
    """The entry's extended attributes, bounded in count and size."""
    xattrs = fields.get_map("x", {}, max_items=MAX_XATTRS)
    checked: dict[str, bytes] = {}
    for key, value in xattrs.items():
        attr = require_str(key, f"{fields.name('x')} name", min_len=1, max_len=MAX_XATTR_NAME)
        checked[attr] = require_bytes(value, f"{fields.name('x')} value", max_len=MAX_XATTR_VALUE)
    return checked


def decode_tree(data: bytes, tree_id: bytes | None = None) -> list[Node]:
    """Parse a tree blob; anything malformed raises FormatError naming the tree.

    Entries are validated field by field (see :meth:`Node.from_dict`) and names must be
    unique within the directory.
    """
    what = f"tree {tree_id.hex()[:16]}" if tree_id is not None else "tree"
    document = Fields(unpack_msgpack(data, what), what)
    version = document.get_int("v")
    if version != TREE_VERSION:
        raise malformed_object(f"{what} has unsupported version {version}: the tree is malformed")
    entries = document.get_list("nodes")
    nodes = [Node.from_dict(item, what) for item in entries]
    names = {node.name for node in nodes}
    if len(names) != len(nodes):
        raise malformed_object(f"{what} lists the same name twice: the tree is malformed")
    return nodes
