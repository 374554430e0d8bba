"""The backup pipeline: walk, stat, read, chunk, hash, dedup, compress, seal, pack.

The walking thread builds trees bottom-up. It never follows a path twice: every
directory and file is opened relative to its parent directory's descriptor and
must still be the entry that was listed (see :mod:`keyark.archiver.walk`), so
swapping a directory for a symlink during a backup cannot redirect it. Small
files are read on the walking thread; larger ones by a bounded pool of
workers; a large file's chunks are hashed, compressed and sealed by a second
pool, so one big file uses every core. Unchanged files (same size, mtime, ctime
and inode as in the parent snapshot) are not read: their content ids are reused,
and a directory whose entries all match the parent's keeps the parent's tree id
(compared on the parent's decoded listing, see :mod:`keyark.archiver.parent`).
Memory stays bounded by the semaphores on in-flight files and chunks.

What the run counts and reports (the summary, warnings, an event per item when
asked) goes through :class:`~keyark.archiver.report.RunReport`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import BinaryIO

from keyark.archiver import walk
from keyark.archiver.agent_cache import AgentCache
from keyark.archiver.commands import CommandSourceSpec, command_output, graft, stream_node
from keyark.archiver.files import FileReader, FileResult
from keyark.archiver.filters import SourceFilter
from keyark.archiver.finisher import TreeFinisher
from keyark.archiver.inventory import InventoryRecorder
from keyark.archiver.listing import EntryLister, Listed
from keyark.archiver.parent import READ_AHEAD, Entry, ParentListing, ParentTrees
from keyark.archiver.parent import subtree as parent_subtree
from keyark.archiver.progress import Tracker
from keyark.archiver.report import RunReport
from keyark.archiver.sizes import SizedStore
from keyark.archiver.sources import VirtualDir, build_virtual_root
from keyark.errors import SourceError
from keyark.events import Code
from keyark.repo.handle import WritableRepository
from keyark.repo.pack import TREE
from keyark.repo.tree import DIR, FILE, Node, encode_tree
from keyark.results import BackupSummary


@dataclass
class _Dir:
    """A directory being saved: what its tree is assembled from once the walk is past it."""

    #: Its path (None for the root and the directories above the sources: not reported).
    path: str | None
    #: The parent snapshot's tree of it, if any.
    parent_tree: bytes | None
    #: True if the parent snapshot has it, None if new, False when it is not counted.
    counted: bool | None
    nodes: list[Node] = field(default_factory=list)
    #: Files being read: (node, result, whether the parent had it, path, stat).
    pending: list[tuple[Node, Future[FileResult], bool, str, os.stat_result]] = field(
        default_factory=list
    )
    subdirs: list[tuple[Node, Future[bytes]]] = field(default_factory=list)
    #: The parent snapshot's listing of it (None: no parent tree, or unreadable).
    parent_listing: ParentListing | None = None


def _counted(old: Entry | None) -> bool | None:
    """How a directory counts: True if the parent snapshot had it, None if new."""
    return None if old is None else True


class Archiver:
    """Backs up source paths into a repository and returns the root tree id."""

    def __init__(
        self,
        repo: WritableRepository,
        filters: SourceFilter,
        summary: BackupSummary,
        tracker: Tracker,
        *,
        dry_run: bool = False,
        file_cache: AgentCache | None = None,
        parent_trees: ParentTrees | None = None,
        force: bool = False,
        report_items: bool = False,
        inventory: InventoryRecorder | None = None,
    ) -> None:
        self.repo = repo
        #: Records the key material of the files saved (None: no inventory).
        self.inventory = inventory
        self.file_cache = file_cache
        #: Reads the parent snapshot's trees (None: no parent can be read, as for an agent).
        self._parent_trees = parent_trees
        self.filters = filters
        self.summary = summary
        self.tracker = tracker
        self.report = RunReport(summary, tracker, items=report_items)
        self._lister = EntryLister(
            repo.blobs.has_blob,
            filters,
            self.report,
            tracker,
            file_cache=file_cache,
            force=force,
        )
        self.dry_run = dry_run
        #: Read every file again, even those the parent snapshot has unchanged.
        self.force = force
        #: Saves a blob, or in a dry run only looks it up: (id, bytes added, is new).
        self._store = SizedStore(repo.blobs, dry_run=dry_run)
        self._files = FileReader(self._store, repo.config.chunker, tracker, inventory)
        if inventory is not None:
            inventory.bind(tracker.events)
        # One thread, first in first out: a directory's tree is queued after its children's.
        self._finisher: TreeFinisher[_Dir, bytes] = TreeFinisher(self._finish_tree)
        # Asks the kernel to read a directory's files ahead of the walk (cold caches).
        self._prefetch = walk.Prefetcher()
        #: Listings of the directories above the sources, by tree id (for grafting).
        self._virtual: dict[bytes, list[Node]] = {}

    # ----------------------------------------------------------------- dirs
    def _parent_listing(self, tree_id: bytes | None) -> ParentListing | None:
        """The parent snapshot's listing ``tree_id``; None without one."""
        if tree_id is None or self._parent_trees is None:
            return None
        try:
            return ParentListing.decode(self._parent_trees.load(tree_id))
        except Exception:  # a damaged parent only costs re-reading
            return None

    def _save_entries(
        self,
        dir_fd: int,
        entries: list[tuple[str, str | VirtualDir]],
        saved: _Dir,
        device: int | None = None,
    ) -> Future[bytes]:
        """Save the entries of the open directory ``dir_fd`` (name -> path or virtual dir).

        Everything that needs ``dir_fd`` (stat, open, xattrs, link targets) happens
        before this returns, so the caller may close it then. Every entry is stat'ed
        first, so the kernel is asked to read ahead only the files that will be read
        (not the unchanged ones). The walk goes on at once: the tree is assembled by
        the finisher thread when the files and subdirectories below are done, so
        reads never stall at directory ends. ``device`` is that of the source the
        directory belongs to (None above the sources).
        """
        saved.parent_listing = parent = self._parent_listing(saved.parent_tree)
        listed = [
            found
            for name, target in entries
            if (found := self._lister.stat_entry(dir_fd, name, target, parent)) is not None
        ]
        to_read = [item.name for item in listed if item.node.type == FILE and item.reused is None]
        if to_read:
            self._prefetch.submit(dir_fd, to_read)
        subtrees = [parent_subtree(item.old) for item in listed if item.node.type == DIR]
        unchanged: list[tuple[str, os.stat_result]] = []
        dirs = 0
        for item in listed:
            if item.node.type == FILE and item.reused is not None:
                path = self._reuse_file(dir_fd, item, saved)
                unchanged.append((path, item.st))
                continue
            self.tracker.check()  # per entry: a cancel stops the walk at the next file
            if item.node.type == DIR:
                if dirs % READ_AHEAD == 0 and self._parent_trees is not None:
                    batch = subtrees[dirs : dirs + READ_AHEAD]
                    self._parent_trees.read_ahead([tree for tree in batch if tree is not None])
                dirs += 1
            self._save_entry(dir_fd, item, saved, device)
        if unchanged:
            self.report.files_unchanged(unchanged)
        return self._finisher.submit(saved)

    def _reuse_file(self, dir_fd: int, item: Listed, saved: _Dir) -> str:
        """Keep a file unread with the content it had (``item.reused``); its path."""
        path = item.path
        item.node.content = item.reused or []
        saved.nodes.append(item.node)
        if self.inventory is not None:
            self.inventory.unchanged(dir_fd, item.name, path, item.st)
        return path

    def _save_entry(self, dir_fd: int, item: Listed, saved: _Dir, device: int | None) -> None:
        """Save one listed entry of ``saved`` that is not an unchanged file (its node, or
        what produces it, is queued)."""
        target, st, node, old = item.target, item.st, item.node, item.old
        path = target.path if isinstance(target, VirtualDir) else target
        if node.type == DIR:
            if isinstance(target, VirtualDir):
                subtree = self._save_virtual(dir_fd, item.name, st, target, parent_subtree(old))
            elif self.filters.crosses_device(st, device):  # a mount point: kept, empty
                subtree = self._finisher.submit(_Dir(path, parent_subtree(old), _counted(old)))
            else:
                subtree = self._save_directory(dir_fd, item.name, st, path, old, device)
            if subtree is not None:
                saved.subdirs.append((node, subtree))
        elif node.type == FILE:
            future = self._files.submit(dir_fd, item.name, path, st)
            saved.pending.append((node, future, old is not None, path, st))
        else:
            saved.nodes.append(node)

    def _finish_tree(self, saved: _Dir) -> bytes:
        """Wait for a directory's children, then store its tree (runs on the finisher)."""
        started = time.monotonic()
        nodes = saved.nodes
        for node, subtree in saved.subdirs:
            node.subtree = subtree.result()  # submitted earlier: already done
            nodes.append(node)
        for node, future, existed, path, st in saved.pending:
            result = future.result()
            if result.skipped is not None:
                self.report.warning(Code.SOURCE_CHANGED, path, result.skipped)
                continue
            if result.error is not None:
                self.report.error(path, result.error)
                continue
            node.content = result.content
            # What was stored, not what the stat said: the file may have grown or
            # shrunk while it was read, and size and content must agree.
            node.size = result.bytes_read
            nodes.append(node)
            if self.inventory is not None:
                self.inventory.add(path, result.inventory_ticket)
            if self.file_cache is not None and result.bytes_read == st.st_size:
                # A file that changed while it was read is not cached under its old stat.
                self.file_cache.record(path, st, result.content)
            self.report.file_read(path, result, existed=existed)
        if self._same_as_parent(saved, nodes):
            assert saved.parent_tree is not None
            # The very listing the parent stored: its tree is reused (no encoding, no hash).
            encoded, blob_id, added, new = b"", saved.parent_tree, 0, False
        else:
            encoded = encode_tree(nodes)
            blob_id, added, new = self._store(TREE, encoded)
        if saved.path is None:  # above the sources: command outputs may be grafted in
            self._virtual[blob_id] = nodes
        if self.file_cache is not None:
            self.file_cache.record_tree(blob_id)
        self.report.tree_stored(len(encoded), added, new=new)
        counted = saved.counted
        action = ""
        if counted is None:
            action = "new"
        elif counted is not False:
            action = "modified" if blob_id != saved.parent_tree else "unchanged"
        metadata = (len(encoded), added) if new else (0, 0)
        self.report.directory(saved.path, action, metadata, time.monotonic() - started)
        return blob_id

    def _same_as_parent(self, saved: _Dir, nodes: list[Node]) -> bool:
        """Whether ``nodes`` are exactly the parent's listing, whose tree is still stored.

        Equal nodes encode to the same tree, so the parent's tree id is this one's.
        """
        parent = saved.parent_listing
        if parent is None or saved.parent_tree is None or not parent.same_as(nodes):
            return False
        return self.repo.blobs.has_blob(saved.parent_tree)

    def _open_directory(self, dir_fd: int, name: str, st: os.stat_result, path: str) -> int | None:
        """Directory ``name`` below ``dir_fd`` if it is still the one listed; else report."""
        try:
            return walk.open_directory(dir_fd, name, st, path)
        except SourceError as error:
            self.report.warning(Code.SOURCE_CHANGED, path, str(error))
        except OSError as error:
            self.report.error(path, f"{path}: {error.strerror}")
        return None

    def _save_directory(
        self,
        dir_fd: int,
        name: str,
        st: os.stat_result,
        path: str,
        old: Entry | None,
        device: int | None,
    ) -> Future[bytes] | None:
        """Save a real directory; None if it was skipped (reported already)."""
        fd = self._open_directory(dir_fd, name, st, path)
        if fd is None:
            return None
        try:
            try:
                names = walk.list_directory(fd)
            except OSError as error:
                self.report.error(path, f"{path}: {error.strerror}")
                names = []
            tags = self.filters.tagged(fd, names) if self.filters.tags else None
            if tags is not None:  # a tagged directory: only the tag files are kept
                names = [child for child in names if child in tags]
            entries: list[tuple[str, str | VirtualDir]] = [
                (child, os.path.join(path, child)) for child in names
            ]
            saved = _Dir(path, parent_subtree(old), _counted(old))
            return self._save_entries(fd, entries, saved, st.st_dev if device is None else device)
        finally:
            os.close(fd)

    def _save_virtual(
        self,
        dir_fd: int,
        name: str,
        st: os.stat_result,
        vdir: VirtualDir,
        parent_tree: bytes | None,
    ) -> Future[bytes] | None:
        """Save a directory above the sources (only its named children)."""
        fd = self._open_directory(dir_fd, name, st, vdir.path)
        if fd is None:
            return None
        try:
            saved = _Dir(None, parent_tree, False)
            return self._save_entries(fd, sorted(vdir.children.items()), saved)
        finally:
            os.close(fd)

    # ----------------------------------------------------------------- entry points
    def run_stream(self, name: str, stream: BinaryIO) -> bytes:
        """Back up ``stream`` as the file ``/name``; return the root tree id."""
        started = time.monotonic()
        path = "/" + name
        try:
            result = self._files.read_stream(path, stream)
        finally:
            self._shutdown()
        node = stream_node(name, result)
        self.report.file_read(path, result, existed=False)
        root = self._finish_tree(_Dir(None, None, False, nodes=[node]))
        self.summary.duration_seconds = time.monotonic() - started
        return root

    def _command_files(
        self, commands: Sequence[CommandSourceSpec]
    ) -> list[tuple[tuple[str, ...], Node]]:
        """Run each command and store its output: (parts of its path, file node)."""
        files: list[tuple[tuple[str, ...], Node]] = []
        for spec in commands:
            self.tracker.check()
            with command_output(spec, self.tracker.cancel) as output:
                result = self._files.read_stream(spec.snapshot_path, output)
            self.report.file_read(spec.snapshot_path, result, existed=False)
            files.append((spec.parts, stream_node(spec.parts[-1], result)))
        return files

    def _store_listing(self, nodes: list[Node]) -> bytes:
        return self._finish_tree(_Dir(None, None, False, nodes=nodes))

    def run(
        self,
        sources: list[str],
        parent_tree: bytes | None,
        commands: Sequence[CommandSourceSpec] = (),
    ) -> bytes:
        """Back up ``sources`` (absolute paths) and the output of ``commands`` (each a
        file at its path); return the root tree id. A failing command fails the run."""
        missing = [s for s in sources if not os.path.lexists(s)]
        present = [s for s in sources if s not in missing]
        if sources and not present:
            raise SourceError(
                "none of the source paths exist: " + ", ".join(missing) + "; nothing backed up"
            )
        for path in missing:
            self.report.error(path, f"{path}: source does not exist")
        if self.file_cache is not None:
            self.file_cache.begin(present)
        started = time.monotonic()
        try:
            files = self._command_files(commands)
            root_fd = walk.open_root()
            try:
                entries = sorted(build_virtual_root(present).children.items())
                saved = self._save_entries(root_fd, entries, _Dir(None, parent_tree, False))
            finally:
                os.close(root_fd)
            root = saved.result()
            if files:
                root = graft(self._virtual[root], files, self._virtual, self._store_listing)
        except BaseException:
            if self.inventory is not None:
                self.inventory.abort()  # a failed or cancelled backup leaves no worker behind
            raise
        finally:
            self._shutdown()
        if self.inventory is not None:
            self.inventory.end_input()  # the worker finishes while the snapshot is saved
        self.summary.duration_seconds = time.monotonic() - started
        return root

    def _shutdown(self) -> None:
        self._files.shutdown()
        self._finisher.shutdown()
        self._prefetch.shutdown()


__all__ = ["Archiver"]
