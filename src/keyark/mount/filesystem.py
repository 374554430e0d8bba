"""The mounted filesystem without FUSE: what a path is, its attributes, listings, reads.

Paths are text with the file system's encoding (``surrogateescape``: a name that is not
UTF-8 arrives, and is matched, byte for byte, as :class:`~keyark.repo.tree.Node` names
are). Failures are :class:`OSError` with the errno a filesystem returns (``ENOENT``,
``ENOTDIR``, ``EISDIR``, ``EROFS``, ``EIO``); a repository error while reading (a damaged
blob, storage failing) is given to ``on_error`` and becomes ``EIO``.
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keyark.catalog.trees import TreeLoader
from keyark.errors import KeyarkError
from keyark.mount.cache import BlobCache
from keyark.mount.layout import Folder, Link, SnapshotRoot, build_layout, snapshot_ns
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import BLOCKDEV, CHARDEV, DIR, FILE, SYMLINK, TYPE_BITS, Node
from keyark.restorer.metadata import PRIVILEGED_XATTRS

#: Mode of the layout's own directories (``snapshots/``, a snapshot's root, ...).
FOLDER_MODE = stat.S_IFDIR | 0o555
#: Setuid and setgid: never shown for an agent's snapshot (its privileges are dropped).
PRIVILEGE_BITS = stat.S_ISUID | stat.S_ISGID
#: How many directory listings are kept decoded (name -> node).
LISTINGS_KEPT = 256
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _error(number: int, path: str = "") -> OSError:
    return OSError(number, os.strerror(number), path)


@dataclass(frozen=True)
class InSnapshot:
    """An entry of a snapshot's tree (``node``), or the snapshot's root (``node`` None)."""

    snapshot: Snapshot
    node: Node | None

    @property
    def tree(self) -> bytes | None:
        """The tree id of the directory it is (None for anything but a directory)."""
        if self.node is None:
            return self.snapshot.tree
        return self.node.subtree if self.node.type == DIR else None


#: What a path names.
Place = Folder | Link | InSnapshot


@dataclass
class OpenFile:
    """An open file: its blobs and where each starts in the content."""

    blobs: Sequence[bytes]
    starts: list[int]
    size: int


@dataclass
class ReadStats:
    """What the mount served: files opened and bytes read."""

    files_opened: int = 0
    bytes_read: int = 0


class SnapshotFilesystem:
    """Snapshots as a read-only tree of directories, files and links.

    ``source`` lists the snapshots to show (again every ``refresh_seconds`` when a
    directory of the layout is looked at; None: never again); ``load_tree`` reads a
    directory listing; ``blobs`` caches file content; ``blob_length`` is a blob's
    plaintext length (None when the index does not know it); ``drops_privileges`` says
    whether a snapshot's setuid/setgid bits are hidden (an agent's snapshot).
    """

    def __init__(
        self,
        source: Callable[[], list[Snapshot]],
        load_tree: TreeLoader,
        blobs: BlobCache,
        blob_length: Callable[[bytes], int | None],
        *,
        drops_privileges: Callable[[Snapshot], bool] = lambda _s: False,
        refresh_seconds: float | None = None,
        on_error: Callable[[str, Exception], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._load_tree = load_tree
        self._blobs = blobs
        self._blob_length = blob_length
        self._drops = drops_privileges
        self._refresh = refresh_seconds
        self._on_error = on_error
        self._clock = clock
        self._mutex = threading.RLock()
        self._listings: OrderedDict[bytes, dict[str, Node]] = OrderedDict()
        self._open: dict[int, OpenFile] = {}
        self._next_handle = 1
        self.stats = ReadStats()
        self.snapshots = source()
        self.root = build_layout(self.snapshots)
        self._built = clock()
        self.uid, self.gid = os.getuid(), os.getgid()

    # ------------------------------------------------------------------ layout
    def refresh(self, force: bool = False) -> bool:
        """List the snapshots again if ``refresh_seconds`` passed (or ``force``); whether
        the layout was rebuilt. A failure keeps the layout and goes to ``on_error``."""
        with self._mutex:
            due = self._refresh is not None and self._clock() - self._built >= self._refresh
            if not (force or due):
                return False
            self._built = self._clock()
            try:
                found = self._source()
            except KeyarkError as error:
                self._report("/", error)
                return False
            self.snapshots, self.root = found, build_layout(found)
            return True

    def _report(self, path: str, error: Exception) -> None:
        if self._on_error is not None:
            self._on_error(path, error)

    def _children(self, tree_id: bytes, path: str) -> dict[str, Node]:
        with self._mutex:
            found = self._listings.get(tree_id)
            if found is not None:
                self._listings.move_to_end(tree_id)
                return found
        try:
            nodes = self._load_tree(tree_id)
        except KeyarkError as error:
            self._report(path, error)
            raise _error(errno.EIO, path) from error
        listing = {node.name: node for node in nodes}
        with self._mutex:
            self._listings[tree_id] = listing
            while len(self._listings) > LISTINGS_KEPT:
                self._listings.popitem(last=False)
        return listing

    def resolve(self, path: str) -> Place:
        """What ``path`` (``/snapshots/<time>/etc/ssl``) names; ENOENT or ENOTDIR if nothing."""
        parts = [part for part in path.split("/") if part]
        place: Place = self.root
        if not parts or (len(parts) <= 2 and parts[0] in self.root.entries):
            self.refresh()
            place = self.root
        for number, part in enumerate(parts):
            place = self._step(place, part, "/" + "/".join(parts[: number + 1]))
        return place

    def _step(self, place: Place, name: str, path: str) -> Place:
        if isinstance(place, Folder):
            item = place.entries.get(name)
            if item is None:
                raise _error(errno.ENOENT, path)
            return InSnapshot(item.snapshot, None) if isinstance(item, SnapshotRoot) else item
        if isinstance(place, Link):
            raise _error(errno.ENOTDIR, path)
        tree = place.tree
        if tree is None:
            raise _error(errno.ENOTDIR, path)
        node = self._children(tree, path).get(name)
        if node is None:
            raise _error(errno.ENOENT, path)
        return InSnapshot(place.snapshot, node)

    # ------------------------------------------------------------- the answers
    def attributes(self, path: str) -> dict[str, Any]:
        """``stat`` of ``path``: mode, size, owner, times (ns), links, device."""
        place = self.resolve(path)
        base = {"st_uid": self.uid, "st_gid": self.gid, "st_nlink": 1}
        if isinstance(place, Folder):
            return {**base, **_times(place.mtime_ns), "st_mode": FOLDER_MODE, "st_nlink": 2}
        if isinstance(place, Link):
            size = len(os.fsencode(place.target))
            return {
                **base,
                **_times(place.mtime_ns),
                "st_mode": stat.S_IFLNK | 0o777,
                "st_size": size,
            }
        node = place.node
        if node is None:
            return {
                **base,
                **_times(snapshot_ns(place.snapshot)),
                "st_mode": FOLDER_MODE,
                "st_nlink": 2,
            }
        mode = node.mode & ~PRIVILEGE_BITS if self._drops(place.snapshot) else node.mode
        attributes = {
            **_times(node.mtime_ns, node.ctime_ns),
            "st_mode": TYPE_BITS.get(node.type, stat.S_IFREG) | mode,
            "st_uid": node.uid,
            "st_gid": node.gid,
            "st_nlink": 2 if node.type == DIR else max(1, node.links),
        }
        if node.type == FILE:
            attributes["st_size"] = node.size
            attributes["st_blocks"] = (node.size + 511) // 512
        elif node.type == SYMLINK:
            attributes["st_size"] = len(os.fsencode(node.target))
        elif node.type in (CHARDEV, BLOCKDEV):
            attributes["st_rdev"] = node.rdev
        return attributes

    def listing(self, path: str) -> list[str]:
        """The names in directory ``path`` (``.`` and ``..`` first); ENOTDIR otherwise."""
        place = self.resolve(path)
        if isinstance(place, Folder):
            names = list(place.entries)
        elif isinstance(place, Link) or place.tree is None:
            raise _error(errno.ENOTDIR, path)
        else:
            names = list(self._children(place.tree, path))
        return [".", "..", *names]

    def read_link(self, path: str) -> str:
        """The target of link ``path``; EINVAL if it is not a link."""
        place = self.resolve(path)
        if isinstance(place, Link):
            return place.target
        if isinstance(place, InSnapshot) and place.node is not None and place.node.type == SYMLINK:
            return place.node.target
        raise _error(errno.EINVAL, path)

    def xattr_names(self, path: str) -> list[str]:
        """The extended attributes of ``path`` (an agent's snapshot: no ``security.``,
        ``trusted.`` or ``system.`` ones)."""
        place = self.resolve(path)
        if not isinstance(place, InSnapshot) or place.node is None:
            return []
        drop = self._drops(place.snapshot)
        return [n for n in place.node.xattrs if not (drop and n.startswith(PRIVILEGED_XATTRS))]

    def xattr(self, path: str, name: str) -> bytes:
        """The value of extended attribute ``name`` of ``path``; ENODATA if it has none."""
        if name not in self.xattr_names(path):
            raise _error(errno.ENODATA, path)
        place = self.resolve(path)
        assert isinstance(place, InSnapshot) and place.node is not None
        return place.node.xattrs[name]

    def open(self, path: str, flags: int) -> int:
        """Open file ``path`` for reading: a handle for :meth:`read` (EROFS for writing)."""
        if flags & WRITE_FLAGS:
            raise _error(errno.EROFS, path)
        place = self.resolve(path)
        if not isinstance(place, InSnapshot) or place.node is None or place.node.type == DIR:
            raise _error(errno.EISDIR if not isinstance(place, Link) else errno.EINVAL, path)
        node = place.node
        if node.type != FILE:
            raise _error(errno.EACCES, path)
        starts, offset = [], 0
        for blob_id in node.content:
            length = self._blob_length(blob_id)
            if length is None:
                self._report(path, KeyarkError(f"blob {blob_id.hex()[:16]} is not in the index"))
                raise _error(errno.EIO, path)
            starts.append(offset)
            offset += length
        with self._mutex:
            handle = self._next_handle
            self._next_handle += 1
            self._open[handle] = OpenFile(list(node.content), starts, offset)
            self.stats.files_opened += 1
        return handle

    def read(self, handle: int, size: int, offset: int, path: str = "") -> bytes:
        """Up to ``size`` bytes of the open file from ``offset`` (fewer at its end)."""
        opened = self.opened(handle)
        end = min(opened.size, offset + size)
        if offset >= end:
            return b""
        first = bisect.bisect_right(opened.starts, offset) - 1
        pieces: list[bytes] = []
        for number in range(first, len(opened.blobs)):
            start = opened.starts[number]
            if start >= end:
                break
            try:
                data = self._blobs.get(opened.blobs[number])
            except KeyarkError as error:
                self._report(path, error)
                raise _error(errno.EIO, path) from error
            pieces.append(data[max(0, offset - start) : end - start])
        content = b"".join(pieces)
        with self._mutex:
            self.stats.bytes_read += len(content)
        return content

    def opened(self, handle: int) -> OpenFile:
        """What an open handle reads (its blobs and where each starts); EBADF if closed."""
        with self._mutex:
            found = self._open.get(handle)
        if found is None:
            raise _error(errno.EBADF)
        return found

    def release(self, handle: int) -> None:
        """Close an open file."""
        with self._mutex:
            self._open.pop(handle, None)

    def open_files(self) -> int:
        """How many files are open."""
        with self._mutex:
            return len(self._open)


def _times(mtime_ns: int, ctime_ns: int = 0) -> dict[str, int]:
    return {"st_mtime": mtime_ns, "st_atime": mtime_ns, "st_ctime": ctime_ns or mtime_ns}


__all__ = ["InSnapshot", "OpenFile", "Place", "ReadStats", "SnapshotFilesystem"]
