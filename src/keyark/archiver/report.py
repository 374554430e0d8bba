"""What a backup run counts and tells: the summary, warnings, and per-item events.

:class:`RunReport` is shared by the walking thread, the file readers and the tree
finisher (thread-safe). Asked to (``report_items``), it emits an
:class:`~keyark.events.ItemDone` event per file and directory: ``new``,
``modified`` or ``unchanged`` with what it added, plain and stored (what ``-v``
lists, and restic's ``verbose_status`` lines).
"""

from __future__ import annotations

import os
import threading

from keyark.archiver.files import FileResult
from keyark.archiver.progress import Tracker
from keyark.events import Code, ItemDone
from keyark.results import BackupSummary


class RunReport:
    """The counts of one backup run and the events that report on it."""

    def __init__(self, summary: BackupSummary, tracker: Tracker, *, items: bool) -> None:
        self.summary = summary
        self.tracker = tracker
        #: Emit an ItemDone event per file and directory.
        self.items = items
        self._lock = threading.Lock()

    def error(self, path: str, message: str) -> None:
        """``path`` could not be read: the snapshot lacks it (the backup is incomplete)."""
        with self._lock:
            self.summary.errors.append(message)
        self.tracker.events.warn(Code.SOURCE_UNREADABLE, message, subject=path)

    def warning(self, code: Code, path: str, message: str) -> None:
        """``path`` was passed over on purpose (skipped, or changed while read)."""
        with self._lock:
            self.summary.warnings.append(message)
        self.tracker.events.warn(code, message, subject=path)

    def item(
        self,
        action: str,
        path: str,
        *,
        data: tuple[int, int] = (0, 0),
        metadata: tuple[int, int] = (0, 0),
        seconds: float = 0.0,
    ) -> None:
        """Report one file or directory done (when asked to): ``data`` and ``metadata``
        are (plain, stored) bytes added."""
        if not self.items:
            return
        events = self.tracker.events
        events.emit(
            ItemDone(
                operation=events.operation,
                action=action,
                item=path,
                data_size=data[0],
                data_size_in_repo=data[1],
                metadata_size=metadata[0],
                metadata_size_in_repo=metadata[1],
                duration=seconds,
            )
        )

    def files_unchanged(self, files: list[tuple[str, os.stat_result]]) -> None:
        """Files (path, stat) the parent snapshot (or the agent's cache) has unchanged:
        not read. Counted together (one directory's at a time), reported one by one."""
        size = sum(st.st_size for _path, st in files)
        with self._lock:
            self.summary.files_unchanged += len(files)
            self.summary.bytes_processed += size
        self.tracker.add(len(files), size, files[-1][0])
        if self.items:
            for path, _st in files:
                self.item("unchanged", path)

    def file_read(self, path: str, result: FileResult, *, existed: bool) -> None:
        """A file that was read and stored (``existed``: the parent snapshot had it)."""
        with self._lock:
            if existed:
                self.summary.files_changed += 1
            else:
                self.summary.files_new += 1
            self.summary.bytes_read += result.bytes_read
            self.summary.bytes_processed += result.bytes_read
            self.summary.bytes_added += result.bytes_added
            self.summary.data_added += result.data_added
            self.summary.data_blobs += result.new_blobs
        data = (result.data_added, result.bytes_added)
        self.item("modified" if existed else "new", path, data=data, seconds=result.seconds)

    def tree_stored(self, size: int, added: int, *, new: bool) -> None:
        """A tree blob of ``size`` plain bytes was saved (``added`` stored bytes if new)."""
        with self._lock:
            self.summary.bytes_added += added
            self.summary.data_added += size if new else 0
            self.summary.tree_blobs += int(new)

    def directory(
        self, path: str | None, action: str, metadata: tuple[int, int], seconds: float
    ) -> None:
        """A directory done: ``action`` is ``new``, ``modified``, ``unchanged`` or ``""``
        (not counted: the root and the directories above the sources)."""
        if not action:
            return
        with self._lock:
            if action == "new":
                self.summary.dirs_new += 1
            elif action == "modified":
                self.summary.dirs_changed += 1
            else:
                self.summary.dirs_unchanged += 1
        if path is not None:
            self.item(action, path.rstrip("/") + "/", metadata=metadata, seconds=seconds)


__all__ = ["RunReport"]
