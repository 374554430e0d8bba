"""Directory listings (tree blobs): deterministic, sorted, compact.

A node is one directory entry. Serialisation is msgpack of the nodes sorted by
name with sorted keys, so identical directories give identical blobs and dedup.
Names are stored as bytes (POSIX names need not be UTF-8).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import msgpack

from keyark.errors import FormatError

FILE = "file"
DIR = "dir"
SYMLINK = "symlink"
NODE_TYPES = (FILE, DIR, SYMLINK)


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
        if self.xattrs:
            data["x"] = self.xattrs
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        node_type = data["t"]
        if node_type not in NODE_TYPES:
            raise FormatError(f"tree has an entry of unknown type {node_type!r}")
        return cls(
            name=os.fsdecode(data["n"]),
            type=node_type,
            mode=int(data.get("m", 0)),
            uid=int(data.get("u", 0)),
            gid=int(data.get("g", 0)),
            user=str(data.get("un", "")),
            group=str(data.get("gn", "")),
            mtime_ns=int(data.get("mt", 0)),
            ctime_ns=int(data.get("ct", 0)),
            size=int(data.get("s", 0)),
            inode=int(data.get("i", 0)),
            device=int(data.get("d", 0)),
            links=int(data.get("l", 1)),
            content=list(data.get("c", [])),
            subtree=data.get("st"),
            target=os.fsdecode(data["lt"]) if "lt" in data else "",
            xattrs=dict(data.get("x", {})),
        )

    def describe(self) -> dict[str, Any]:
        """JSON-friendly view for listings and ``debug cat``."""
        view: dict[str, Any] = {
            "name": self.name,
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
            view["target"] = self.target
        if self.xattrs:
            view["xattrs"] = sorted(self.xattrs)
        return view


def encode_tree(nodes: list[Node]) -> bytes:
    """Serialise a directory deterministically."""
    ordered = sorted(nodes, key=lambda node: os.fsencode(node.name))
    payload = [node.to_dict() for node in ordered]
    return bytes(msgpack.packb({"v": 1, "nodes": payload}, use_bin_type=True))


def decode_tree(data: bytes) -> list[Node]:
    """Parse a tree blob."""
    try:
        document = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return [Node.from_dict(item) for item in document["nodes"]]
    except (KeyError, ValueError, TypeError, msgpack.UnpackException) as error:
        raise FormatError(f"tree blob is malformed ({error})") from None
