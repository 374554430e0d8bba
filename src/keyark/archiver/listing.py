"""The entries of a directory being backed up, stat'ed: the node each becomes, and
the content an unchanged file keeps unread.

A file keeps its content when the parent snapshot has it with the same size,
mtime, ctime and inode (and every blob is still stored), or, for a write-only
agent, when its local file cache has it. An inode the parent has with the same
ctime keeps its extended attributes and link target (see
:func:`~keyark.archiver.metadata.node_from_stat`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from keyark.archiver import walk
from keyark.archiver.agent_cache import AgentCache
from keyark.archiver.filters import SourceFilter
from keyark.archiver.metadata import node_from_stat, node_type, skip_note
from keyark.archiver.parent import (
    Entry,
    ParentListing,
    inode_metadata,
    same_inode,
    unchanged_content,
)
from keyark.archiver.progress import Tracker
from keyark.archiver.report import RunReport
from keyark.archiver.sources import VirtualDir
from keyark.events import Code
from keyark.repo.tree import FILE, Node


@dataclass
class Listed:
    """An entry of a directory once stat'ed: what saving it needs."""

    name: str
    target: str | VirtualDir
    st: os.stat_result
    node: Node
    #: The parent snapshot's entry of the same name, if any.
    old: Entry | None
    #: A file's content reused unread (unchanged since the parent, or in the agent's cache).
    reused: list[bytes] | None

    @property
    def path(self) -> str:
        """The entry's absolute path."""
        return self.target.path if isinstance(self.target, VirtualDir) else self.target


class EntryLister:
    """Stats the entries of a backup's directories (on the walking thread)."""

    def __init__(
        self,
        has_blob: Callable[[bytes], bool],
        filters: SourceFilter,
        report: RunReport,
        tracker: Tracker,
        *,
        file_cache: AgentCache | None,
        force: bool,
    ) -> None:
        self._has_blob = has_blob
        self._filters = filters
        self._report = report
        self._tracker = tracker
        self._file_cache = file_cache
        #: Reuse nothing: every file is read again.
        self._force = force

    def stat_entry(
        self, dir_fd: int, name: str, target: str | VirtualDir, parent: ParentListing | None
    ) -> Listed | None:
        """Stat entry ``name`` of ``dir_fd``; None when it is passed over (reported if due)."""
        self._tracker.check()
        virtual = isinstance(target, VirtualDir)
        path = target.path if isinstance(target, VirtualDir) else target
        if not virtual and self._filters.excluded(path):
            return None
        old = parent.get(name) if parent is not None else None
        try:
            st = walk.stat_at(dir_fd, name)
            kind = node_type(st.st_mode)
            if kind is None:
                self._report.warning(Code.SOURCE_SKIPPED, path, skip_note(path, st.st_mode))
                return None
            if not virtual and self._filters.too_large(st):
                return None
            known = None
            if old is not None and same_inode(old, st, kind):
                known = inode_metadata(old)
            node = node_from_stat(name, st, kind, dir_fd, known)
        except OSError as error:
            self._report.error(path, f"{path}: {error.strerror}")
            return None
        reused = None
        if kind == FILE and not self._force:
            reused = self._unchanged(old, st)
            if reused is None:
                reused = self._cached(path, st)
        return Listed(name, target, st, node, old, reused)

    def _stored(self, content: list[bytes] | None) -> bool:
        return content is not None and all(map(self._has_blob, content))

    def _unchanged(self, old: Entry | None, st: os.stat_result) -> list[bytes] | None:
        """The parent's content of a file unchanged since (and still stored), else None."""
        content = unchanged_content(old, st)
        return content if self._stored(content) else None

    def _cached(self, path: str, st: os.stat_result) -> list[bytes] | None:
        """Content from the agent's file cache, if the file is unchanged and still stored."""
        if self._file_cache is None:
            return None
        content = self._file_cache.lookup(path, st)
        if content is None or not self._stored(content):
            return None
        self._file_cache.record(path, st, content)
        return content


__all__ = ["EntryLister", "Listed"]
