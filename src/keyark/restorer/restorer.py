"""Restore: plan -> fetch packs -> decrypt -> write to temp names -> rename -> metadata -> verify.

Files are planned in batches (a few thousand files, in snapshot order); within a
batch blobs are fetched pack by pack (each pack read once, in coalesced ranges) by
a pool of workers and written with ``pwrite`` at their file offsets, so files
spread over many packs and packs shared by many files both cost one read per
batch. Each file is written under a temporary name in its directory and renamed
when complete; a file that is one blob (most small files) is created, written,
given its metadata and renamed in one go. A blob that cannot be read fails only
the files that need it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from keyark.archiver.progress import Tracker
from keyark.errors import BackendError, IntegrityError, UnsafePathError
from keyark.repo.index import BlobLocation
from keyark.repo.repository import Repository
from keyark.restorer.dirs import DirHandles
from keyark.restorer.entries import EntryWriter, replace_entry
from keyark.restorer.extras import ExtraRemover
from keyark.restorer.leftovers import remove_leftovers
from keyark.restorer.plan import PathFilter, PlanEntry, RestorePlan
from keyark.restorer.reads import (
    FileJob,
    Wanted,
    batches,
    locate_content,
    read_groups,
    worker_count,
)
from keyark.restorer.verify import verify_files
from keyark.results import RestoreSummary

OVERWRITE_MODES = ("always", "if-changed", "never")


def _failure_reason(error: UnsafePathError | OSError) -> str:
    """Why a file could not be written: the refusal of an unsafe path as it says, the
    system's words for an OS error."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


class Restorer(EntryWriter):
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
        items: bool = False,
    ) -> None:
        super().__init__(
            target,
            summary,
            tracker,
            overwrite=overwrite,
            drop_privileges=drop_privileges,
            items=items,
        )
        self.repo = repo
        #: Remove the target's entries the snapshot lacks that this filter selects.
        self.delete = delete
        #: Leave holes for all-zero blobs instead of writing them.
        self.sparse = sparse

    # ----------------------------------------------------------------- files
    def _open_temp(self, job: FileJob) -> None:
        assert self._handles is not None
        parent = job.entry.parts[:-1]
        with self._handles.use(parent, create=True) as dir_fd:
            self._create_temp(job, dir_fd)

    def _create_temp(self, job: FileJob, dir_fd: int) -> None:
        """Create ``job``'s file under a fresh temporary name in ``dir_fd`` (0600)."""
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
                replace_entry(dir_fd, job.temp, node.name)
            with self._lock:
                self.summary.files_restored += 1
                self.summary.bytes_restored += node.size
            self.tracker.add(1, 0, self._shown(job.entry.path))
            self._written(job.entry, job.existed, node.size)
        except (UnsafePathError, OSError) as error:
            self._abandon(job, _failure_reason(error))

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

    def _write_whole(self, job: FileJob, data: bytes) -> None:
        """Write a file that is one blob: create, write, metadata, rename, in one directory
        hold (the common case of a small file: no second look-up of its directory)."""
        assert self._handles is not None
        node = job.entry.node
        try:
            with self._handles.use(job.entry.parts[:-1], create=True) as dir_fd:
                self._create_temp(job, dir_fd)
                if not (self.sparse and _all_zero(data)):
                    os.pwrite(job.fd, data, 0)
                if self.sparse:
                    os.ftruncate(job.fd, node.size)
                self._apply_file_meta(job.fd, node)
                os.close(job.fd)
                job.fd = -1
                replace_entry(dir_fd, job.temp, node.name)
        except (UnsafePathError, OSError) as error:
            self._abandon(job, _failure_reason(error))
            return
        with self._lock:
            self.summary.files_restored += 1
            self.summary.bytes_restored += node.size
        shown = self._shown(job.entry.path)
        self.tracker.add(1, len(data), shown)
        if self.items:
            self._written(job.entry, job.existed, node.size)

    def _write_blob(self, job: FileJob, offset: int, data: bytes) -> None:
        with job.lock:
            if job.failed:
                return
            if job.remaining == 1 and job.fd < 0 and offset == 0:
                job.remaining = 0
                self._write_whole(job, data)
                return
            try:
                if job.fd < 0:
                    self._open_temp(job)
                if not (self.sparse and _all_zero(data)):
                    os.pwrite(job.fd, data, offset)
            except (UnsafePathError, OSError) as error:
                self._abandon(job, _failure_reason(error))
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
        """Write the files' content, batch by batch (:func:`~keyark.restorer.reads.batches`).

        The next batch is planned while the workers write the current one, so the
        reads of at most two batches are in memory, however many files there are.
        """
        pool: ThreadPoolExecutor | None = None
        running: list[Future[None]] = []
        try:
            for packs in batches(self._file_jobs(files)):
                if pool is None:
                    workers = worker_count(packs, self.repo.connections)
                    pool = ThreadPoolExecutor(workers, thread_name_prefix="keyark-restore")
                submitted = [
                    pool.submit(self._restore_range, pack_id, group)
                    for pack_id, blobs in packs.items()
                    for group in read_groups(list(blobs.values()))
                ]
                del packs
                for future in running:
                    future.result()
                running = submitted
            for future in running:
                future.result()
        except BaseException:  # a cancel, Ctrl-C: stop instead of finishing every range
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            raise
        if pool is not None:
            pool.shutdown(wait=True)

    def _file_jobs(
        self, files: list[PlanEntry]
    ) -> Iterator[tuple[FileJob, list[tuple[BlobLocation, int]]]]:
        """The files to write with where their blobs are; the rest is skipped, failed or
        (empty files) written here."""
        assert self._handles is not None
        # Nothing to look at in the target first (the writers open each directory anyway).
        look = self.overwrite != "always" or self.items
        skip = existed = False
        for entry in files:
            self.tracker.check()
            node = entry.node
            if look:
                try:
                    with self._handles.use(entry.parts[:-1], create=True) as dir_fd:
                        skip = self._skip_existing(dir_fd, node)
                        existed = not skip and self._existed(dir_fd, node.name)
                except (OSError, UnsafePathError) as error:
                    reason = error.strerror if isinstance(error, OSError) else None
                    self._fail(entry.path, reason or str(error))
                    continue
            if skip:
                with self._lock:
                    self.summary.files_skipped += 1
                    self.summary.bytes_skipped += node.size
                self.tracker.add(1, node.size, self._shown(entry.path))
                self.item("unchanged", self._shown(entry.path), node.size)
                continue
            job = FileJob(entry, remaining=len(node.content), existed=existed)
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
            yield job, planned

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
                self._deleted,  # after the writers: one thread
                self.fail,
                dry_run=dry_run,
                cancel=self.tracker.cancel,
            ).run(handles)

    def _deleted(self, shown: str, is_dir: bool) -> None:
        """Count (and report) one entry ``--delete`` removed or, in a dry run, would remove."""
        self.summary.record_deleted(shown, is_dir)
        self.item("deleted", shown)

    def _report_dry_run(self, plan: RestorePlan) -> None:
        """Report the entries a dry run would write (``updated`` where the target has one)."""
        if not self.items:
            return
        sized = [(e, e.node.size) for e in plan.files]
        sized += [(e, 0) for e in plan.symlinks + plan.specials]
        for entry, size in sorted(sized, key=lambda pair: pair[0].path):
            self._written(entry, os.path.lexists(os.path.join(self.target, *entry.parts)), size)

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
            self._report_dry_run(plan)
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
