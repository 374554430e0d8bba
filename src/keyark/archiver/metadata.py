"""File metadata as tree nodes: mode, owner ids and names, times, xattrs."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from functools import lru_cache

from keyark.archiver.walk import read_link, read_xattrs
from keyark.repo.tree import DIR, FILE, SYMLINK, Node


@lru_cache(maxsize=1024)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=1024)
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def node_type(mode: int) -> str | None:
    """Our node type for a stat mode, or None for sockets, devices and FIFOs."""
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIR
    if stat.S_ISLNK(mode):
        return SYMLINK
    return None


def node_from_stat(name: str, st: os.stat_result, kind: str, dir_fd: int) -> Node:
    """A node with the metadata of ``st`` for entry ``name`` of directory ``dir_fd``.

    The link target and extended attributes are read relative to ``dir_fd``, never
    through a path; content and subtree are filled in later.
    """
    node = Node(
        name=name,
        type=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        user=user_name(st.st_uid),
        group=group_name(st.st_gid),
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
    )
    if kind == FILE:
        node.size = st.st_size
        if st.st_nlink > 1:
            node.links = st.st_nlink
            node.device = st.st_dev
    elif kind == SYMLINK:
        node.target = read_link(dir_fd, name)
    node.xattrs = read_xattrs(dir_fd, name)
    return node
