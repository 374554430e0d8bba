"""Restoring an entry's metadata, and creating FIFOs and device nodes.

Metadata is applied in one order for every type: owner first (``chown`` clears
setuid/setgid bits and file capabilities), then extended attributes (POSIX ACLs
are the ``system.posix_acl_*`` attributes), then the mode (setting an access
ACL rewrites the group bits, ``chmod`` sets the ACL mask to the recorded ones),
then the times (everything before touches the ctime, nothing the mtime). A
directory gets its metadata after its contents were written, so neither the
restored files nor a default ACL change it afterwards.

When an access ACL is recorded but not restored (an agent's snapshot restored
without ``--keep-privileges``, or a target file system without ACLs), the
recorded group bits are the ACL's mask, wider than the owning group's own
permissions: they are narrowed to what the owning group was allowed, so a
restore never grants more than the source did.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable

from keyark.events import Code, Events
from keyark.repo.tree import CHARDEV, DEVICES, FIFO, Node

#: Extended attributes an agent's snapshot must not plant (unless --keep-privileges).
PRIVILEGED_XATTRS = ("security.", "trusted.", "system.")
ACL_ACCESS = "system.posix_acl_access"
_PROC_FD = "/proc/self/fd"
_ACL_HEADER = struct.Struct("<I")
_ACL_ENTRY = struct.Struct("<HHI")
_ACL_VERSION = 2
_ACL_GROUP_OBJ = 0x04
_ACL_MASK = 0x10
#: Sets one extended attribute: (name, value).
SetXattr = Callable[[str, bytes], None]


def owning_group_bits(acl: bytes) -> int | None:
    """The owning group's effective permissions (0-7) in a Linux ACL xattr value.

    That is the ``group::`` entry limited by the ``mask::`` entry; None if the
    value is not a well-formed version 2 ACL.
    """
    if len(acl) < _ACL_HEADER.size or (len(acl) - _ACL_HEADER.size) % _ACL_ENTRY.size:
        return None
    if _ACL_HEADER.unpack_from(acl)[0] != _ACL_VERSION:
        return None
    group: int | None = None
    mask = 0o7
    for tag, perm, _id in _ACL_ENTRY.iter_unpack(acl[_ACL_HEADER.size :]):
        if tag == _ACL_GROUP_OBJ:
            group = perm & 0o7
        elif tag == _ACL_MASK:
            mask = perm & 0o7
    return None if group is None else group & mask


class MetadataWriter:
    """Applies recorded owner, xattrs, mode and times to restored entries."""

    def __init__(
        self,
        *,
        drop_privileges: bool,
        is_root: bool,
        events: Events | None = None,
    ) -> None:
        self.drop_privileges = drop_privileges
        self.is_root = is_root
        self._events = events

    def mode(self, node: Node) -> int:
        """The permission bits to set: without setuid/setgid when privileges are dropped."""
        mode = stat.S_IMODE(node.mode)
        return mode & ~(stat.S_ISUID | stat.S_ISGID) if self.drop_privileges else mode

    def _set_xattrs(self, node: Node, path: str, setter: SetXattr) -> set[str]:
        """Set the node's extended attributes that may be restored; the names set.

        One that cannot be set is reported (a warning naming the path), never fatal.
        """
        done: set[str] = set()
        failed: list[str] = []
        for name, value in node.xattrs.items():
            if self.drop_privileges and name.startswith(PRIVILEGED_XATTRS):
                continue
            try:
                setter(name, value)
            except OSError as error:
                failed.append(f"{name} ({error.strerror or error})")
                continue
            done.add(name)
        if failed and self._events is not None:
            self._events.warn(
                Code.RESTORE_ENTRY,
                f"{path}: extended attributes not restored: {', '.join(failed)}",
                subject=path,
            )
        return done

    def _final_mode(self, node: Node, restored: set[str]) -> int:
        """The mode to set, narrowed to the owning group's bits if the ACL was not restored."""
        mode = self.mode(node)
        acl = node.xattrs.get(ACL_ACCESS)
        if acl is None or ACL_ACCESS in restored:
            return mode
        group = owning_group_bits(acl)
        if group is None:
            return mode & ~0o070  # an ACL we cannot read: grant the group nothing
        return (mode & ~0o070) | (mode & 0o070 & (group << 3))

    def apply(self, fd: int, node: Node, path: str) -> None:
        """Apply ``node``'s metadata to the open file or directory ``fd``.

        Raises ``OSError`` if the mode or times cannot be set; a failed ``chown``
        or xattr is not fatal (xattrs are reported).
        """
        if self.is_root:
            try:
                os.fchown(fd, node.uid, node.gid)
            except OSError:
                pass
        restored = self._set_xattrs(node, path, lambda name, value: os.setxattr(fd, name, value))
        os.fchmod(fd, self._final_mode(node, restored))
        os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))

    def apply_at(self, dir_fd: int, name: str, node: Node, path: str) -> None:
        """Apply ``node``'s metadata to entry ``name`` of directory ``dir_fd`` (a FIFO
        or device node, which must not be opened), never following a symlink.

        Raises ``OSError`` if the mode or times cannot be set.
        """
        if self.is_root:
            try:
                os.chown(name, node.uid, node.gid, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                pass
        where = f"{_PROC_FD}/{dir_fd}/{name}"
        restored: set[str] = set()
        if node.xattrs and os.path.isdir(_PROC_FD):
            restored = self._set_xattrs(
                node,
                path,
                lambda attr, value: os.setxattr(where, attr, value, follow_symlinks=False),
            )
        try:
            os.chmod(name, self._final_mode(node, restored), dir_fd=dir_fd, follow_symlinks=False)
        except (NotImplementedError, ValueError):
            # Only a symlink cannot be changed without following it: not what was created.
            raise OSError(f"{name} is no longer the entry just created") from None
        os.utime(name, ns=(node.mtime_ns, node.mtime_ns), dir_fd=dir_fd, follow_symlinks=False)

    def make_special(self, dir_fd: int, name: str, node: Node) -> None:
        """Create the FIFO or device node ``node`` as ``name`` in ``dir_fd`` (mode 0600).

        Devices need root; raises ``OSError`` otherwise or on any other failure.
        """
        if node.type == FIFO:
            os.mkfifo(name, 0o600, dir_fd=dir_fd)
            return
        if node.type not in DEVICES:
            raise ValueError(f"not a FIFO or device node: {node.type}")
        kind = stat.S_IFCHR if node.type == CHARDEV else stat.S_IFBLK
        os.mknod(name, 0o600 | kind, node.rdev, dir_fd=dir_fd)

    @staticmethod
    def same_special(existing: os.stat_result, node: Node) -> bool:
        """True if an entry already in the target is this FIFO or device, unchanged."""
        kinds = {FIFO: stat.S_IFIFO, CHARDEV: stat.S_IFCHR}
        kind = kinds.get(node.type, stat.S_IFBLK)
        return (
            stat.S_IFMT(existing.st_mode) == kind
            and (node.type == FIFO or existing.st_rdev == node.rdev)
            and existing.st_mtime_ns == node.mtime_ns
        )
