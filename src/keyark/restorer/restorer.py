"""Restore: plan -> fetch packs -> decrypt -> write to temp names -> rename -> metadata -> verify.

Blobs are fetched pack by pack (each pack read once, in coalesced ranges) by a
pool of workers and written with ``pwrite`` at their file offsets, so files
spread over many packs and packs shared by many files both cost one read.
Each file is written under a temporary name in its directory and renamed when
complete. A blob that cannot be read fails only the files that need it.
"""

from __future__ import annotations

import itertools
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from keyark.archiver.progress import Tracker
from keyark.errors import BackendError, IntegrityError, UnsafePathError
from keyark.events import Code
from keyark.repo.repository import Repository
from keyark.repo.tree import DEVICES, Node
from keyark.restorer.dirs import DirHandles
from keyark.restorer.extras import ExtraRemover
from keyark.restorer.leftovers import remove_leftovers, temp_name
from keyark.restorer.metadata import MetadataWriter
from keyark.restorer.plan import PathFilter, PlanEntry, RestorePlan
from keyark.restorer.reads import (
    FileJob,
    PackReads,
    Wanted,
    add_reads,
    locate_content,
    read_groups,
    worker_count,
)
from keyark.restorer.verify import verify_files
from keyark.results import RestoreSummary

OVERWRITE_MODES = ("always", "if-changed", "never")


class Restorer:
    """Writes a planned snapshot subtree into a target directory."""

    def __init__(
        self,
        repo: Repository,
        target: str,
        summary: RestoreSummary,
        tracker: Tracker,
        *,
        overwrite: str = "always",
        drop_privileges: bool = False,
        sparse: bool = False,
        delete: PathFilter | None = None,
    ) -> None:
        self.repo = repo
        #: Remove the target's entries the snapshot lacks that this filter selects.
        self.delete = delete
        #: Drop setuid/setgid bits and privileged xattrs (restoring an agent's snapshot).
        self.drop_privileges = drop_privileges
        self.target = target
        self.summary = summary
        self.overwrite = overwrite
        #: Leave holes for all-zero blobs instead of writing them.
        self.sparse = sparse
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

    # ----------------------------------------------------------------- metadata
    def _mode(self, node: Node) -> int:
        """The permission bits to set: without setuid/setgid when privileges are dropped."""
        return self._meta.mode(node)

    def _apply_file_meta(self, fd: int, node: Node, path: str = "") -> None:
        """Owner, xattrs (ACLs among them), mode, times of the open file ``fd``."""
        self._meta.apply(fd, node, path or node.name)

    def _skip_existing(self, dir_fd: int, node: Node) -> bool:
        """Apply ``--overwrite``: True if the existing file stays as it is."""
        return self._keep_existing(dir_fd, node, _same_file)

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

    # ----------------------------------------------------------------- files
    def _open_temp(self, job: FileJob) -> None:
        assert self._handles is not None
        parent = job.entry.parts[:-1]
        with self._handles.use(parent, create=True) as dir_fd:
            job.temp = self._temp_name()
            job.fd = os.open(
                job.temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dir_fd,
            )

    def _finish_file(self, job: FileJob) -> None:
        """Truncate, set metadata, rename into place."""
        assert self._handles is not None
        node = job.entry.node
        try:
            if job.fd < 0:
                self._open_temp(job)
            if self.sparse:
                os.ftruncate(job.fd, node.size)  # a trailing hole has no write to extend it
            self._apply_file_meta(job.fd, node)
            os.close(job.fd)
            job.fd = -1
            with self._handles.use(job.entry.parts[:-1]) as dir_fd:
                _replace_entry(dir_fd, job.temp, node.name)
            with self._lock:
                self.summary.files_restored += 1
                self.summary.bytes_restored += node.size
            self.tracker.add(1, 0, self._shown(job.entry.path))
        except UnsafePathError as error:
            self._abandon(job, str(error))
        except OSError as error:
            self._abandon(job, error.strerror or str(error))

    def _abandon(self, job: FileJob, reason: str) -> None:
        if job.failed:
            return
        job.failed = True
        if job.fd >= 0:
            os.close(job.fd)
            job.fd = -1
        if job.temp and self._handles is not None:
            try:
                with self._handles.use(job.entry.parts[:-1]) as dir_fd:
                    os.unlink(job.temp, dir_fd=dir_fd)
            except (OSError, UnsafePathError):
                pass
        self._fail(job.entry.path, reason)

    def _write_blob(self, job: FileJob, offset: int, data: bytes) -> None:
        with job.lock:
            if job.failed:
                return
            try:
                if job.fd < 0:
                    self._open_temp(job)
                if not (self.sparse and _all_zero(data)):
                    os.pwrite(job.fd, data, offset)
            except UnsafePathError as error:
                self._abandon(job, str(error))
                return
            except OSError as error:
                self._abandon(job, error.strerror or str(error))
                return
            job.remaining -= 1
            self.tracker.add(0, len(data), self._shown(job.entry.path))
            if job.remaining == 0:
                self._finish_file(job)

    def _fail_blob(self, users: list[tuple[FileJob, int]], reason: str) -> None:
        for job, _offset in users:
            with job.lock:
                self._abandon(job, reason)

    def _restore_range(self, pack_id: bytes, group: list[Wanted]) -> None:
        """Read one range of a pack, decrypt its blobs and write them where they belong."""
        self.tracker.check()  # per range, in the worker: a cancel stops the reads
        start = group[0][0].offset
        end = max(loc.offset + loc.length for loc, _ in group)
        try:
            data = self.repo.packs.read(pack_id, start, end - start)
        except BackendError as error:
            for _location, users in group:
                self._fail_blob(users, f"cannot read pack {pack_id.hex()[:16]}: {error}")
            return
        view = memoryview(data)
        for location, users in group:
            rel = location.offset - start
            sealed = view[rel : rel + location.length]
            try:
                if len(sealed) != location.length:
                    raise IntegrityError(f"pack {pack_id.hex()[:16]} is truncated")
                plain = self.repo.blobs.decode_or_fetch(location, sealed)
            except IntegrityError as error:
                self._fail_blob(
                    users, f"damaged data in pack {pack_id.hex()[:16]} ({error}); not restored"
                )
                continue
            for job, offset in users:
                self._write_blob(job, offset, plain)

    def _restore_files(self, files: list[PlanEntry]) -> None:
        assert self._handles is not None
        packs: PackReads = {}
        for entry in files:
            self.tracker.check()
            node = entry.node
            try:
                with self._handles.use(entry.parts[:-1], create=True) as dir_fd:
                    skip = self._skip_existing(dir_fd, node)
            except (OSError, UnsafePathError) as error:
                reason = error.strerror if isinstance(error, OSError) else None
                self._fail(entry.path, reason or str(error))
                continue
            if skip:
                with self._lock:
                    self.summary.files_skipped += 1
                    self.summary.bytes_skipped += node.size
                self.tracker.add(1, node.size, self._shown(entry.path))
                continue
            job = FileJob(entry, remaining=len(node.content))
            if not node.content:
                self._finish_file(job)
                continue
            planned = locate_content(self.repo.blobs.index, node.content)
            if planned is None:
                self._fail(
                    entry.path,
                    "content is in no index file nor pack header; not restored "
                    "(check the repository)",
                )
                continue
            add_reads(packs, job, planned)
        workers = worker_count(packs, self.repo.connections)
        with ThreadPoolExecutor(workers, thread_name_prefix="keyark-restore") as pool:
            futures = [
                pool.submit(self._restore_range, pack_id, group)
                for pack_id, blobs in packs.items()
                for group in read_groups(list(blobs.values()))
            ]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # a cancel, Ctrl-C: stop instead of finishing every range
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    # ----------------------------------------------------------------- others
    def _restore_symlink(self, entry: PlanEntry) -> None:
        assert self._handles is not None
        node = entry.node
        try:
            with self._handles.use(entry.parts[:-1], create=True) as dir_fd:
                if self._skip_existing(dir_fd, node) and self.overwrite == "never":
                    return
                temp = self._temp_name()
                os.symlink(node.target, temp, dir_fd=dir_fd)
                if self._is_root:
                    os.chown(temp, node.uid, node.gid, dir_fd=dir_fd, follow_symlinks=False)
                os.utime(
                    temp, ns=(node.mtime_ns, node.mtime_ns), dir_fd=dir_fd, follow_symlinks=False
                )
                _replace_entry(dir_fd, temp, node.name)
            with self._lock:
                self.summary.symlinks_restored += 1
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
                    _replace_entry(dst_fd, temp, node.name)
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
                    return
                temp = self._temp_name()
                self._meta.make_special(dir_fd, temp, node)
                try:
                    self._meta.apply_at(dir_fd, temp, node, self._shown(entry.path))
                    _replace_entry(dir_fd, temp, node.name)
                except BaseException:
                    try:
                        os.unlink(temp, dir_fd=dir_fd)
                    except OSError:
                        pass
                    raise
        except (OSError, UnsafePathError) as error:
            reason = error.strerror if isinstance(error, OSError) else None
            self._fail(entry.path, reason or str(error))

    def verify(self, files: list[PlanEntry]) -> None:
        """Re-read every restored file and compare its content with the snapshot."""
        written = [f for f in files if self._shown(f.path) not in self._failed]
        verify_files(self.repo, self.target, written, self.summary, self._fail, self.tracker.cancel)

    def _remove_extras(self, plan: RestorePlan, handles: DirHandles, dry_run: bool) -> None:
        """``--delete``: remove (or in a dry run, count) what the snapshot lacks."""
        if self.delete is not None:
            ExtraRemover(
                plan,
                self.delete,
                self.summary.record_deleted,  # after the writers: one thread
                self.fail,
                dry_run=dry_run,
                cancel=self.tracker.cancel,
            ).run(handles)

    # ----------------------------------------------------------------- entry point
    def run(self, plan: RestorePlan, dry_run: bool = False) -> RestoreSummary:
        started = time.monotonic()
        summary = self.summary
        self._base = plan.base
        for reason in plan.refused:
            self.fail(reason.split(": ", 1)[0], reason, key=reason)
        if dry_run:
            summary.dry_run = True
            summary.files_restored = len(plan.files)
            summary.dirs_restored = len(plan.dirs)
            summary.symlinks_restored = len(plan.symlinks)
            summary.bytes_restored = plan.total_bytes
            if self.delete is not None and os.path.isdir(self.target):
                handles = DirHandles(self.target, create=False, shown=plan.shown)
                try:
                    self._remove_extras(plan, handles, dry_run=True)
                finally:
                    handles.close()
            return summary
        self.tracker.set_totals(len(plan.files), plan.total_bytes)
        self._handles = DirHandles(self.target, shown=plan.shown)
        wall_started = time.time()
        stopped_early = True
        try:
            for entry in plan.dirs:
                self.tracker.check()
                try:
                    with self._handles.use(entry.parts, create=True):
                        summary.dirs_restored += 1
                except (OSError, UnsafePathError) as error:
                    self._fail(entry.path, str(error))
            self._restore_files(plan.files)
            for entry in plan.symlinks:
                self.tracker.check()
                self._restore_symlink(entry)
            for entry in plan.specials:
                self.tracker.check()
                self._restore_special(entry)
            self._restore_hardlinks(plan.files)
            self._remove_extras(plan, self._handles, dry_run=False)
            self._finish_dirs(plan.dirs)
            stopped_early = False
        finally:
            own = self._run_token if stopped_early else None
            remove_leftovers(self._handles, plan, wall_started, own)
            self._handles.close()
            self._handles = None
        self.tracker.finish()
        summary.duration_seconds = time.monotonic() - started
        return summary


def _all_zero(data: bytes) -> bool:
    """Whether ``data`` is only zero bytes (a hole in a sparse restore)."""
    return data == bytes(len(data))


def _same_file(st: os.stat_result, node: Node) -> bool:
    """Whether the existing entry ``st`` is ``node``'s regular file, unchanged by size and time."""
    return stat.S_ISREG(st.st_mode) and st.st_size == node.size and st.st_mtime_ns == node.mtime_ns


def _replace_entry(dir_fd: int, temp: str, name: str) -> None:
    """Rename ``temp`` over ``name`` in one directory (never following symlinks)."""
    try:
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except IsADirectoryError:
        os.unlink(temp, dir_fd=dir_fd)
        raise
