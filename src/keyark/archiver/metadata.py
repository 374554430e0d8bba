"""File metadata as tree nodes: mode, owner ids and names, times, xattrs, device numbers.

Extended attributes include POSIX ACLs, which Linux exposes as the
``system.posix_acl_access`` and ``system.posix_acl_default`` attributes (of files
and directories alike), so an ACL is stored and restored like any other xattr.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from functools import lru_cache

from keyark.archiver.walk import read_link, read_xattrs
from keyark.repo.tree import BLOCKDEV, CHARDEV, DEVICES, DIR, FIFO, FILE, SYMLINK, Node


@lru_cache(maxsize=1024)
def owner_names(uid: int, gid: int) -> tuple[str, str]:
    """The names of user ``uid`` and group ``gid`` (``""`` for one the system lacks)."""
    names: list[str] = []
    for lookup, number in ((pwd.getpwuid, uid), (grp.getgrgid, gid)):
        try:
            names.append(str(lookup(number)[0]))
        except KeyError:
            names.append("")
    return names[0], names[1]


#: Our node type for each stored file type (the ``stat.S_IFMT`` bits of a mode).
_NODE_TYPES = {
    stat.S_IFREG: FILE,
    stat.S_IFDIR: DIR,
    stat.S_IFLNK: SYMLINK,
    stat.S_IFIFO: FIFO,
    stat.S_IFCHR: CHARDEV,
    stat.S_IFBLK: BLOCKDEV,
}


def node_type(mode: int) -> str | None:
    """Our node type for a stat mode, or None for what is not stored (sockets).

    A socket belongs to the program that listens on it and is recreated by it, so,
    like restic, keyark skips it (the caller reports a note).
    """
    return _NODE_TYPES.get(stat.S_IFMT(mode))


def skip_note(path: str, mode: int) -> str:
    """The note reported for an entry whose type is not stored (see :func:`node_type`)."""
    if stat.S_ISSOCK(mode):
        return f"{path}: skipped (a socket; the program that listens on it recreates it)"
    return f"{path}: skipped (unsupported file type {stat.S_IFMT(mode):o})"


def node_from_stat(
    name: str,
    st: os.stat_result,
    kind: str,
    dir_fd: int,
    known: tuple[str, dict[str, bytes]] | None = None,
) -> Node:
    """A node with the metadata of ``st`` for entry ``name`` of directory ``dir_fd``.

    The link target and extended attributes are read relative to ``dir_fd``, never
    through a path; content and subtree are filled in later, and a file's size is
    replaced then by the number of bytes actually read (a file may grow or shrink
    between this stat and its read).

    ``known`` is the link target and extended attributes the parent snapshot
    recorded for this very inode, unchanged since (same inode number and ctime:
    setting an extended attribute or ACL updates the ctime, and a symlink never
    changes target in place): they are reused instead of read.
    """
    user, group = owner_names(st.st_uid, st.st_gid)
    node = Node(
        name=name,
        type=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        user=user,
        group=group,
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
    )
    if kind == FILE:
        node.size = st.st_size
        if st.st_nlink > 1:
            node.links = st.st_nlink
            node.device = st.st_dev
    elif kind in DEVICES:
        node.rdev = st.st_rdev
    if known is not None:
        node.target, node.xattrs = known
        return node
    if kind == SYMLINK:
        node.target = read_link(dir_fd, name)
    node.xattrs = read_xattrs(dir_fd, name)
    return node
