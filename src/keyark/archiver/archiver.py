"""The backup pipeline: walk, stat, read, chunk, hash, dedup, compress, seal, pack.

The walking thread builds trees bottom-up. It never follows a path twice: every
directory and file is opened relative to its parent directory's descriptor and
must still be the entry that was listed (see :mod:`keyark.archiver.walk`), so
swapping a directory for a symlink during a backup cannot redirect it. Small
files are read on the walking thread; larger ones by a bounded pool of
workers; a large file's chunks are hashed, compressed and sealed by a second
pool, so one big file uses every core. Unchanged files (same size, mtime, ctime
and inode as in the parent snapshot) are not read: their content ids are reused.
Memory stays bounded by the semaphores on in-flight files and chunks.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from keyark.archiver import walk
from keyark.archiver.agent_cache import AgentCache
from keyark.archiver.files import FileReader, FileResult
from keyark.archiver.metadata import node_from_stat, node_type, skip_note
from keyark.archiver.progress import Tracker
from keyark.archiver.sources import ExcludeMatcher, VirtualDir, build_virtual_root
from keyark.catalog.trees import TreeLoader
from keyark.errors import SourceError
from keyark.events import Code
from keyark.repo import objects
from keyark.repo.handle import WritableRepository
from keyark.repo.pack import TREE
from keyark.repo.tree import DIR, FILE, Node, encode_tree
from keyark.results import BackupSummary


class Archiver:
    """Backs up source paths into a repository and returns the root tree id."""

    def __init__(
        self,
        repo: WritableRepository,
        excludes: ExcludeMatcher,
        summary: BackupSummary,
        tracker: Tracker,
        *,
        dry_run: bool = False,
        file_cache: AgentCache | None = None,
        load_tree: TreeLoader | None = None,
    ) -> None:
        self.repo = repo
        self.file_cache = file_cache
        #: Reads the parent snapshot's trees (None: no parent can be read, as for an agent).
        self._load_tree = load_tree
        self.excludes = excludes
        self.summary = summary
        self.tracker = tracker
        self.dry_run = dry_run
        self._lock = threading.Lock()
        #: Saves a blob, or in a dry run only looks it up: (id, bytes added, is new).
        self._store: objects.Store = (
            objects.DryRun(repo.blobs) if dry_run else objects.saving(repo.blobs)
        )
        self._files = FileReader(self._store, repo.config.chunker, tracker)
        # One thread, first in first out: a directory's tree is queued after its children's.
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix="keyark-tree")
        # Asks the kernel to read a directory's files ahead of the walk (cold caches).
        self._prefetch = walk.Prefetcher()

    # ----------------------------------------------------------------- helpers
    def _error(self, path: str, message: str) -> None:
        """``path`` could not be read: the snapshot lacks it (the backup is incomplete)."""
        with self._lock:
            self.summary.errors.append(message)
        self.tracker.events.warn(Code.SOURCE_UNREADABLE, message, subject=path)

    def _warning(self, code: Code, path: str, message: str) -> None:
        """``path`` was passed over on purpose (skipped, or changed while read)."""
        with self._lock:
            self.summary.warnings.append(message)
        self.tracker.events.warn(code, message, subject=path)

    # ----------------------------------------------------------------- dirs
    def _parent_nodes(self, tree_id: bytes | None) -> dict[str, Node]:
        if tree_id is None or self._load_tree is None:
            return {}
        try:
            return {node.name: node for node in self._load_tree(tree_id)}
        except Exception:  # a damaged parent only costs re-reading
            return {}

    def _cached(self, path: str, st: os.stat_result) -> list[bytes] | None:
        """Content from the agent's file cache, if the file is unchanged and still stored."""
        if self.file_cache is None:
            return None
        content = self.file_cache.lookup(path, st)
        if content is None or not all(self.repo.blobs.has_blob(blob) for blob in content):
            return None
        self.file_cache.record(path, st, content)
        return content

    def _unchanged(self, old: Node | None, st: os.stat_result) -> bool:
        return (
            old is not None
            and old.type == FILE
            and old.size == st.st_size
            and old.mtime_ns == st.st_mtime_ns
            and old.ctime_ns == st.st_ctime_ns
            and old.inode == st.st_ino
            and all(self.repo.blobs.has_blob(blob) for blob in old.content)
        )

    def _save_entries(
        self,
        dir_fd: int,
        entries: list[tuple[str, str | VirtualDir]],
        parent_tree: bytes | None,
        counted: Node | bool | None = False,
    ) -> Future[bytes]:
        """Save the entries of the open directory ``dir_fd`` (name -> path or virtual dir).

        Everything that needs ``dir_fd`` (stat, open, xattrs, link targets) happens
        before this returns, so the caller may close it then. The walk goes on at once:
        the tree is assembled by the finisher thread when the files and subdirectories
        below are done, so reads never stall at directory ends. ``counted`` is the
        parent snapshot's node of this directory (None if new), or False for
        directories that are not counted (virtual parents, the root).
        """
        parent = self._parent_nodes(parent_tree)
        nodes: list[Node] = []
        pending: list[tuple[Node, Future[FileResult], bool, str, os.stat_result]] = []
        subdirs: list[tuple[Node, Future[bytes]]] = []
        for name, target in entries:
            self.tracker.check()  # per entry: a cancel stops the walk at the next file
            path = target.path if isinstance(target, VirtualDir) else target
            if not isinstance(target, VirtualDir) and self.excludes.excluded(path):
                continue
            try:
                st = walk.stat_at(dir_fd, name)
                kind = node_type(st.st_mode)
                if kind is None:
                    self._warning(Code.SOURCE_SKIPPED, path, skip_note(path, st.st_mode))
                    continue
                node = node_from_stat(name, st, kind, dir_fd)
            except OSError as error:
                self._error(path, f"{path}: {error.strerror}")
                continue
            old = parent.get(name)
            if kind == DIR:
                if isinstance(target, VirtualDir):
                    subtree = self._save_virtual(
                        dir_fd, name, st, target, old.subtree if old else None
                    )
                else:
                    subtree = self._save_directory(dir_fd, name, st, path, old)
                if subtree is not None:
                    subdirs.append((node, subtree))
            elif kind == FILE and self._unchanged(old, st):
                assert old is not None
                node.content = list(old.content)
                self._count_unchanged(path, st)
                nodes.append(node)
            elif kind == FILE and (cached := self._cached(path, st)) is not None:
                node.content = cached
                self._count_unchanged(path, st)
                nodes.append(node)
            elif kind == FILE:
                future = self._files.submit(dir_fd, name, path, st)
                pending.append((node, future, old is not None, path, st))
            else:
                nodes.append(node)
        return self._finisher.submit(
            self._finish_tree, nodes, pending, subdirs, parent_tree, counted
        )

    def _count_unchanged(self, path: str, st: os.stat_result) -> None:
        with self._lock:
            self.summary.files_unchanged += 1
            self.summary.bytes_processed += st.st_size
        self.tracker.add(1, st.st_size, path)

    def _finish_tree(
        self,
        nodes: list[Node],
        pending: list[tuple[Node, Future[FileResult], bool, str, os.stat_result]],
        subdirs: list[tuple[Node, Future[bytes]]],
        parent_tree: bytes | None,
        counted: Node | bool | None,
    ) -> bytes:
        """Wait for a directory's children, then store its tree (runs on the finisher)."""
        for node, subtree in subdirs:
            node.subtree = subtree.result()  # submitted earlier: already done
            nodes.append(node)
        for node, future, existed, path, st in pending:
            result = future.result()
            if result.skipped is not None:
                self._warning(Code.SOURCE_CHANGED, path, result.skipped)
                continue
            if result.error is not None:
                self._error(path, result.error)
                continue
            node.content = result.content
            # What was stored, not what the stat said: the file may have grown or
            # shrunk while it was read, and size and content must agree.
            node.size = result.bytes_read
            nodes.append(node)
            if self.file_cache is not None and result.bytes_read == st.st_size:
                # A file that changed while it was read is not cached under its old stat.
                self.file_cache.record(path, st, result.content)
            with self._lock:
                if existed:
                    self.summary.files_changed += 1
                else:
                    self.summary.files_new += 1
                self.summary.bytes_read += result.bytes_read
                self.summary.bytes_processed += result.bytes_read
                self.summary.bytes_added += result.bytes_added
                self.summary.data_blobs += result.new_blobs
        blob_id, added, new = self._store(TREE, encode_tree(nodes))
        if self.file_cache is not None:
            self.file_cache.record_tree(blob_id)
        with self._lock:
            self.summary.bytes_added += added
            self.summary.tree_blobs += int(new)
            if counted is None:
                self.summary.dirs_new += 1
            elif counted is not False and blob_id != parent_tree:
                self.summary.dirs_changed += 1
            elif counted is not False:
                self.summary.dirs_unchanged += 1
        return blob_id

    def _open_directory(self, dir_fd: int, name: str, st: os.stat_result, path: str) -> int | None:
        """Directory ``name`` below ``dir_fd`` if it is still the one listed; else report."""
        try:
            return walk.open_directory(dir_fd, name, st, path)
        except SourceError as error:
            self._warning(Code.SOURCE_CHANGED, path, str(error))
        except OSError as error:
            self._error(path, f"{path}: {error.strerror}")
        return None

    def _save_directory(
        self, dir_fd: int, name: str, st: os.stat_result, path: str, old: Node | None
    ) -> Future[bytes] | None:
        """Save a real directory; None if it was skipped (reported already)."""
        fd = self._open_directory(dir_fd, name, st, path)
        if fd is None:
            return None
        try:
            try:
                names = walk.list_directory(fd)
            except OSError as error:
                self._error(path, f"{path}: {error.strerror}")
                names = []
            entries: list[tuple[str, str | VirtualDir]] = [
                (child, os.path.join(path, child)) for child in names
            ]
            self._prefetch.submit(fd, names)
            return self._save_entries(fd, entries, old.subtree if old else None, old)
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
            return self._save_entries(fd, sorted(vdir.children.items()), parent_tree)
        finally:
            os.close(fd)

    # ----------------------------------------------------------------- entry point
    def run(self, sources: list[str], parent_tree: bytes | None) -> bytes:
        """Back up ``sources`` (absolute paths); return the root tree id."""
        missing = [s for s in sources if not os.path.lexists(s)]
        present = [s for s in sources if s not in missing]
        if not present:
            raise SourceError(
                "none of the source paths exist: " + ", ".join(missing) + "; nothing backed up"
            )
        for path in missing:
            self._error(path, f"{path}: source does not exist")
        if self.file_cache is not None:
            self.file_cache.begin(present)
        started = time.monotonic()
        try:
            root_fd = walk.open_root()
            try:
                entries = sorted(build_virtual_root(present).children.items())
                saved = self._save_entries(root_fd, entries, parent_tree)
            finally:
                os.close(root_fd)
            root = saved.result()
        finally:
            self._files.shutdown()
            self._finisher.shutdown(wait=True)
            self._prefetch.shutdown()
        self.summary.duration_seconds = time.monotonic() - started
        return root


__all__ = ["Archiver"]
