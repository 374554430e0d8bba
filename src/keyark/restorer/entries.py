"""Writing a restore's entries: failure accounting, temporary names, the overwrite
policy, and the entries without content (symlinks, FIFOs and devices, hard links,
directory metadata). :class:`~keyark.restorer.restorer.Restorer` adds file content.

Every entry is written under a temporary name in its directory and renamed over its
final name, through descriptor-relative calls that never follow symlinks.
"""

from __future__ import annotations

import itertools
import os
import secrets
import stat
import threading
from collections.abc import Callable

from keyark.archiver.progress import Tracker
from keyark.errors import UnsafePathError
from keyark.events import Code, ItemDone
from keyark.repo.tree import DEVICES, Node
from keyark.restorer.dirs import DirHandles
from keyark.restorer.leftovers import temp_name
from keyark.restorer.metadata import MetadataWriter
from keyark.restorer.plan import PlanEntry
from keyark.results import RestoreSummary


class EntryWriter:
    """The state every restored entry shares, and the writers of entries without content."""

    def __init__(
        self,
        target: str,
        summary: RestoreSummary,
        tracker: Tracker,
        *,
        overwrite: str = "always",
        drop_privileges: bool = False,
        items: bool = False,
    ) -> None:
        #: Emit an ItemDone event per file, link and special entry written, kept or deleted.
        self.items = items
        #: Drop setuid/setgid bits and privileged xattrs (restoring an agent's snapshot).
        self.drop_privileges = drop_privileges
        self.target = target
        self.summary = summary
        self.overwrite = overwrite
        self.tracker = tracker
        self._lock = threading.Lock()
        self._is_root = os.geteuid() == 0
        self._meta = MetadataWriter(
            drop_privileges=drop_privileges, is_root=self._is_root, events=tracker.events
        )
        self._handles: DirHandles | None = None
        self._run_token = secrets.token_hex(6)
        self._counter = itertools.count()
        #: The restored snapshot directory (``SNAPSHOT:DIR``): messages name paths below it.
        self._base: tuple[str, ...] = ()
        #: What failed already: each entry is reported and counted once.
        self._failed: set[str] = set()

    def _temp_name(self) -> str:
        """A fresh temporary name: this process, a random per-run token and a counter."""
        return temp_name(self._run_token, next(self._counter))

    # ----------------------------------------------------------------- errors
    def fail(self, shown: str, reason: str, *, key: str | None = None) -> None:
        """Report that ``shown`` (a path as messages name it) could not be restored.

        Once per entry (``key``, default ``shown``): a directory that failed when it
        was created is not reported again when its metadata cannot be set.
        """
        message = reason if reason.startswith(f"{shown}: ") else f"{shown}: {reason}"
        with self._lock:
            if (key or shown) in self._failed:
                return
            self._failed.add(key or shown)
            self.summary.failed.append(shown)
            self.summary.errors.append(message)
        self.tracker.events.warn(Code.RESTORE_ENTRY, message, subject=shown)

    def _shown(self, path: str) -> str:
        """``entry.path`` (``/a/b`` below the target) as messages name it."""
        if not self._base:
            return path
        return path.lstrip("/") or "."

    def _fail(self, path: str, reason: str) -> None:
        self.fail(self._shown(path), reason)

    # ----------------------------------------------------------------- items
    def item(self, action: str, shown: str, size: int = 0) -> None:
        """Report one entry (when asked to): ``action`` is restic 0.17's ``restored``,
        ``updated`` (it replaced an existing entry), ``unchanged`` or ``deleted``."""
        if not self.items:
            return
        events = self.tracker.events
        events.emit(ItemDone(operation=events.operation, action=action, item=shown, data_size=size))

    def _existed(self, dir_fd: int, name: str) -> bool:
        """Whether ``name`` exists in ``dir_fd`` (only looked at when items are reported)."""
        if not self.items:
            return False
        try:
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _written(self, entry: PlanEntry, existed: bool, size: int = 0) -> None:
        """Report ``entry`` written: ``updated`` if it replaced an entry, else ``restored``."""
        self.item("updated" if existed else "restored", self._shown(entry.path), size)

    # ----------------------------------------------------------------- metadata
    def _mode(self, node: Node) -> int:
        """The permission bits to set: without setuid/setgid when privileges are dropped."""
        return self._meta.mode(node)

    def _apply_file_meta(self, fd: int, node: Node, path: str = "") -> None:
        """Owner, xattrs (ACLs among them), mode, times of the open file ``fd``."""
        self._meta.apply(fd, node, path or node.name)

    def _skip_existing(self, dir_fd: int, node: Node) -> bool:
        """Apply ``--overwrite``: True if the existing file stays as it is."""
        return self._keep_existing(dir_fd, node, same_file)

    def _keep_existing(
        self, dir_fd: int, node: Node, unchanged: Callable[[os.stat_result, Node], bool]
    ) -> bool:
        """Apply ``--overwrite`` to ``node``'s existing entry: True if it stays as it is.

        ``unchanged`` decides for ``if-changed`` whether the entry already is ``node``.
        """
        if self.overwrite == "always":
            return False
        try:
            st = os.stat(node.name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return self.overwrite == "never" or unchanged(st, node)

    # ----------------------------------------------------------------- entries without content
    def _restore_symlink(self, entry: PlanEntry) -> None:
        assert self._handles is not None
        node = entry.node
        try:
            with self._handles.use(entry.parts[:-1], create=True) as dir_fd:
                if self._skip_existing(dir_fd, node) and self.overwrite == "never":
                    self.item("unchanged", self._shown(entry.path))
                    return
                existed = self._existed(dir_fd, node.name)
                temp = self._temp_name()
                os.symlink(node.target, temp, dir_fd=dir_fd)
                if self._is_root:
                    os.chown(temp, node.uid, node.gid, dir_fd=dir_fd, follow_symlinks=False)
                os.utime(
                    temp, ns=(node.mtime_ns, node.mtime_ns), dir_fd=dir_fd, follow_symlinks=False
                )
                replace_entry(dir_fd, temp, node.name)
            with self._lock:
                self.summary.symlinks_restored += 1
            self._written(entry, existed)
        except (OSError, UnsafePathError) as error:
            reason = error.strerror if isinstance(error, OSError) else None
            self._fail(entry.path, reason or str(error))

    def _restore_hardlinks(self, files: list[PlanEntry]) -> None:
        """Files that were hard links to each other become hard links again."""
        assert self._handles is not None
        first: dict[tuple[int, int], PlanEntry] = {}
        for entry in files:
            node = entry.node
            if node.links < 2 or self._shown(entry.path) in self._failed:
                continue
            key = (node.device, node.inode)
            origin = first.setdefault(key, entry)
            if origin is entry:
                continue
            try:
                with (
                    self._handles.use(origin.parts[:-1]) as src_fd,
                    self._handles.use(entry.parts[:-1]) as dst_fd,
                ):
                    temp = self._temp_name()
                    os.link(
                        origin.node.name,
                        temp,
                        src_dir_fd=src_fd,
                        dst_dir_fd=dst_fd,
                        follow_symlinks=False,
                    )
                    replace_entry(dst_fd, temp, node.name)
            except (OSError, UnsafePathError):
                continue  # the file was written on its own; only the link is lost

    def _finish_dirs(self, dirs: list[PlanEntry]) -> None:
        """Directory metadata, deepest first, once every entry below is written."""
        assert self._handles is not None
        for entry in sorted(dirs, key=lambda e: len(e.parts), reverse=True):
            try:
                with self._handles.use(entry.parts, create=True) as fd:
                    self._meta.apply(fd, entry.node, self._shown(entry.path))
            except (OSError, UnsafePathError) as error:
                self._fail(entry.path, str(error))

    def _restore_special(self, entry: PlanEntry) -> None:
        """Create a FIFO or device node (devices only as root, else a warning)."""
        assert self._handles is not None
        node = entry.node
        if node.type in DEVICES and not self._is_root:
            self.tracker.events.warn(
                Code.RESTORE_ENTRY,
                f"{self._shown(entry.path)}: device node not restored "
                "(creating devices needs root; run the restore as root)",
                subject=self._shown(entry.path),
            )
            return
        try:
            with self._handles.use(entry.parts[:-1], create=True) as dir_fd:
                if self._keep_existing(dir_fd, node, self._meta.same_special):
                    self.item("unchanged", self._shown(entry.path))
                    return
                existed = self._existed(dir_fd, node.name)
                temp = self._temp_name()
                self._meta.make_special(dir_fd, temp, node)
                try:
                    self._meta.apply_at(dir_fd, temp, node, self._shown(entry.path))
                    replace_entry(dir_fd, temp, node.name)
                    self._written(entry, existed)
                except BaseException:
                    try:
                        os.unlink(temp, dir_fd=dir_fd)
                    except OSError:
                        pass
                    raise
        except (OSError, UnsafePathError) as error:
            reason = error.strerror if isinstance(error, OSError) else None
            self._fail(entry.path, reason or str(error))


def same_file(st: os.stat_result, node: Node) -> bool:
    """Whether the existing entry ``st`` is ``node``'s regular file, unchanged by size and time."""
    return stat.S_ISREG(st.st_mode) and st.st_size == node.size and st.st_mtime_ns == node.mtime_ns


def replace_entry(dir_fd: int, temp: str, name: str) -> None:
    """Rename ``temp`` over ``name`` in one directory (never following symlinks)."""
    try:
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except IsADirectoryError:
        os.unlink(temp, dir_fd=dir_fd)
        raise


__all__ = ["EntryWriter", "replace_entry", "same_file"]
