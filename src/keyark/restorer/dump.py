"""``dump``: write one file of a snapshot to a stream, or a directory as a tar archive."""

from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO

from keyark.catalog.trees import resolve_path, walk
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.repo import objects
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import BLOCKDEV, CHARDEV, DIR, FIFO, FILE, SYMLINK, Node

#: Tar entry types of FIFOs and device nodes (stored without content).
_SPECIAL_TYPES = {FIFO: tarfile.FIFOTYPE, CHARDEV: tarfile.CHRTYPE, BLOCKDEV: tarfile.BLKTYPE}


def dump(
    repo: Repository,
    snapshot: Snapshot,
    path: str,
    out: BinaryIO,
    ctx: OperationContext,
    *,
    drop_privileges: bool = False,
) -> bool:
    """Stream ``path`` of ``snapshot`` to ``out``: a file as it is (True), a directory as a
    tar stream (False). With ``drop_privileges`` (an agent's snapshot) tar entries
    carry no setuid/setgid bits. Holds a shared lock, so prune cannot delete a pack
    the dump is reading; a cancel stops it at the next entry."""
    with repo.lock("dump", retry=ctx.lock_wait):
        repo.blobs.load_index(reload=True)
        return _dump_locked(repo, snapshot, path, out, ctx, drop_privileges)


def _dump_locked(
    repo: Repository,
    snapshot: Snapshot,
    path: str,
    out: BinaryIO,
    ctx: OperationContext,
    drop_privileges: bool,
) -> bool:
    tree, node = resolve_path(repo.blobs.load_tree, snapshot.tree, path)
    if node is not None and node.type == FILE:
        objects.write_blobs(repo.blobs, node.content, out)
        return True
    if node is not None and node.type != DIR:
        raise UsageError(f"{path} is a {node.type}; dump writes files and directories")
    root = tree if tree is not None else snapshot.tree
    with tarfile.open(fileobj=out, mode="w|") as archive:
        for entry in walk(repo.blobs.load_tree, root, cancel=ctx.cancel):
            item = entry.node
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.mode = item.mode & ~(stat.S_ISUID | stat.S_ISGID) if drop_privileges else item.mode
            info.uid, info.gid = item.uid, item.gid
            info.uname, info.gname = item.user, item.group
            info.mtime = item.mtime_ns // 1_000_000_000
            if item.type == DIR:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif item.type == SYMLINK:
                info.type = tarfile.SYMTYPE
                info.linkname = item.target
                archive.addfile(info)
            elif item.type in _SPECIAL_TYPES:
                info.type = _SPECIAL_TYPES[item.type]
                if item.type != FIFO:
                    info.devmajor, info.devminor = os.major(item.rdev), os.minor(item.rdev)
                archive.addfile(info)
            elif item.type == FILE:
                info.size = _content_length(repo, item)
                archive.addfile(info, objects.open_blobs(repo.blobs, item.content))
    return False


def _content_length(repo: Repository, node: Node) -> int:
    """The length a tar entry announces: the stored content's, else the recorded size.

    Snapshots made before sizes were recorded as read may hold a size that
    disagrees with the content of a file that grew or shrank during the backup;
    the content is what a tar entry must announce. Falls back to the recorded
    size if a blob is not in the index (reading it fails then anyway).
    """
    length = objects.content_length(repo.blobs.index, node.content)
    return node.size if length is None else length
