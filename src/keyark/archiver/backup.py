"""The backup pipeline on an open repository: lock, parent, archive, seal the snapshot.

:func:`backup` runs under a shared lock. A full-key writer first adopts the packs
a killed run uploaded (so a cancelled or killed backup resumes from what reached
storage), picks the parent snapshot through the catalog, archives the sources
(:class:`~keyark.archiver.archiver.Archiver`) and saves the snapshot. A write-only
agent dedups against its local cache instead. Progress, warnings (with their
codes) and the cancel checks go through the operation's context.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime

from keyark import __version__
from keyark.archiver.agent_cache import AgentCache
from keyark.archiver.archiver import Archiver
from keyark.archiver.commands import CommandSourceSpec, check_command_paths
from keyark.archiver.filters import SourceFilter
from keyark.archiver.inputs import (
    check_stream_name,
    files_from,
    files_from_raw,
    files_from_verbatim,
    open_stream,
)
from keyark.archiver.inventory import InventoryRecorder
from keyark.archiver.parent import ParentTrees
from keyark.archiver.progress import Tracker, count_totals
from keyark.archiver.sources import ExcludeMatcher, normalize_sources
from keyark.catalog.catalog import Catalog
from keyark.catalog.sync import open_catalog, sync_snapshots
from keyark.compress import parse_compression
from keyark.context import OperationContext
from keyark.crypto.agents import FULL_KEY
from keyark.errors import KeyarkError, UsageError
from keyark.events import Code
from keyark.inventory.finding import Inventory
from keyark.repo.adoption import adopt_unindexed
from keyark.repo.agent_session import AgentRepository
from keyark.repo.inventory import snapshot_inventory
from keyark.repo.pack_presence import stored_sizes
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, now, select_snapshot
from keyark.repo.snapshot_trust import is_agent_snapshot, snapshot_trust
from keyark.results import BackupSummary


@dataclass
class BackupOptions:
    """Options of ``backup``."""

    #: What to back up (files and directories; relative paths are made absolute).
    paths: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    host: str | None = None
    #: Exclude patterns (restic's rules, see docs/patterns.md) and files of them.
    excludes: list[str] = field(default_factory=list)
    exclude_files: list[str] = field(default_factory=list)
    #: The same, matched without regard to case.
    iexcludes: list[str] = field(default_factory=list)
    iexclude_files: list[str] = field(default_factory=list)
    #: ``zstd[:LEVEL]`` (default ``zstd:3``), ``gzip``, ``bzip2``, ``lzma``, ``none`` or ``auto``.
    compression: str | None = None
    dry_run: bool = False
    time: datetime | None = None
    #: Rotate the data key first when the rotation policy says it is due.
    auto_rotate: bool = False
    #: Count the files and bytes to back up in the background, so progress has totals.
    count_totals: bool = False
    #: Files listing more paths: one glob a line (``#`` comments), one path a line taken
    #: as is, or NUL-terminated paths (restic's ``--files-from*``; ``-`` is stdin).
    files_from: list[str] = field(default_factory=list)
    files_from_verbatim: list[str] = field(default_factory=list)
    files_from_raw: list[str] = field(default_factory=list)
    #: Back up standard input as the file ``/<stdin_filename>`` (no paths with it).
    stdin: bool = False
    stdin_filename: str = "stdin"
    #: Back up this command's standard output as ``/<stdin_filename>``; a command that
    #: exits with a non-zero status fails the backup and no snapshot is saved.
    stdin_command: list[str] = field(default_factory=list)
    #: Do not cross file systems: a mount point below a source is kept as an empty dir.
    one_file_system: bool = False
    #: Keep only ``CACHEDIR.TAG`` of directories tagged as caches.
    exclude_caches: bool = False
    #: ``NAME[:HEADER]``: keep only this file of a directory that holds it.
    exclude_if_present: list[str] = field(default_factory=list)
    #: Pass over regular files larger than this many bytes.
    exclude_larger_than: int | None = None
    #: The snapshot (id or prefix) whose files count as unchanged when their metadata is.
    parent: str | None = None
    #: Read every file again, with no parent snapshot.
    force: bool = False
    #: Emit an ``ItemDone`` event per file and directory (what verbose listings show).
    report_items: bool = False
    #: Commands whose standard output is stored as a file of the same snapshot (at its
    #: path); one that fails fails the backup and no snapshot is saved.
    command_sources: list[CommandSourceSpec] = field(default_factory=list)
    #: Record the key and certificate inventory of the files backed up, sealed in the
    #: snapshot (see docs/inventory.md).
    inventory: bool = True


def backup(
    repo: Repository | AgentRepository, options: BackupOptions, ctx: OperationContext
) -> BackupSummary:
    """Back up ``options.paths``; the summary says what happened (``complete`` False = exit 3).

    Cancelled (``ctx.cancel``), it stops at the next file or chunk, releases its lock
    and leaves what it uploaded for the next backup to adopt.
    """
    stream = _stream_name(options)
    sources, paths = _snapshot_sources(options, stream, ctx)
    matcher = ExcludeMatcher.from_options(
        options.excludes, options.exclude_files, options.iexcludes, options.iexclude_files
    )
    patterns = list(matcher.patterns)  # recorded in the snapshot, as restic does
    if options.compression:
        repo.blobs.set_compression(parse_compression(options.compression))
    agent = repo if isinstance(repo, AgentRepository) else None
    if agent is not None and options.parent:
        raise UsageError("a write-only agent cannot read snapshots, so it takes no parent")
    if agent is not None:
        host = agent.credential.choose_host(options.host, socket.gethostname())
    else:
        host = options.host or socket.gethostname()
    started = options.time or now()
    clock = time.monotonic()
    summary = BackupSummary(dry_run=options.dry_run, backup_start=_wall_clock())
    full = repo if isinstance(repo, Repository) else None
    catalog = None if full is None else open_catalog(full, ctx.cache_root)
    cache = None if agent is None else agent_cache(agent, ctx)
    try:
        if full is not None and not options.dry_run and options.auto_rotate:
            _rotation_check(full, ctx, rotate_if_due=True)
        with repo.lock("backup", retry=ctx.lock_wait):
            # The keyring as of the lock: a rotation before it may have deleted our key.
            repo.refresh_keys()
            sealing_key = repo.sealing_key
            parent: Snapshot | None = None
            if full is not None and catalog is not None:
                parent = _prepare_full_key(full, catalog, host, paths, options, ctx)
            elif agent is not None and cache is not None:
                present = stored_sizes(agent.blobs.packs, cache.pack_ids(), agent.connections)
                cache.load_into(agent.blobs.index, present)
                agent.blobs.pack_listeners.append(cache.add_pack)
                if not options.dry_run:
                    agent.store_session_key()
            stored_before = repo.blobs.packer().bytes_uploaded
            summary.parent = parent.id if parent else None
            tracker = Tracker(ctx.events, "backup", ctx.cancel)
            filters = SourceFilter.build(
                matcher.excluded,
                exclude_if_present=options.exclude_if_present,
                exclude_caches=options.exclude_caches,
                larger_than=options.exclude_larger_than,
                one_file_system=options.one_file_system,
            )
            if options.count_totals and not stream:
                count_totals(tracker, sources, filters)
            recorder = None
            if options.inventory and not options.dry_run and not stream:
                recorder = InventoryRecorder(_parent_inventory(full, parent), created=started)
            archiver = Archiver(
                repo,
                filters,
                summary,
                tracker,
                dry_run=options.dry_run,
                file_cache=cache,
                parent_trees=None if full is None else ParentTrees(full.blobs),
                force=options.force,
                report_items=options.report_items,
                inventory=recorder,
            )
            if stream:
                with open_stream(options.stdin_command) as content:
                    tree = archiver.run_stream(stream, content)
            else:
                parent_tree = parent.tree if parent else None
                tree = archiver.run(sources, parent_tree, options.command_sources)
            tracker.finish()
            if options.dry_run:
                summary.duration_seconds = time.monotonic() - clock
                summary.backup_end = _wall_clock()
                return summary
            ctx.cancel.check()  # the last checkpoint: after it the snapshot is saved
            repo.require_current_key(sealing_key)  # before index and snapshot
            repo.blobs.flush()
            summary.bytes_stored = repo.blobs.packer().bytes_uploaded - stored_before
            summary.duration_seconds = time.monotonic() - clock
            summary.backup_end = _wall_clock()
            snapshot = Snapshot(
                time=started,
                host=host,
                username=ctx.actor.user,
                uid=os.getuid(),
                gid=os.getgid(),
                paths=paths,
                tree=tree,
                tags=list(options.tags),
                parent=summary.parent,
                excludes=patterns,
                summary=_snapshot_summary(summary),
                program_version=f"keyark {__version__}",
            )
            if recorder is not None:
                snapshot.inventory = _record_inventory(recorder, started, ctx)
            summary.snapshot_id = repo.snapshots.save(snapshot)
        if catalog is not None:
            catalog.add_snapshots([snapshot])
        if cache is not None:
            cache.commit()
        return summary
    finally:
        if catalog is not None:
            catalog.close()
        if cache is not None:
            cache.close()


def _prepare_full_key(
    repo: Repository,
    catalog: Catalog,
    host: str,
    sources: list[str],
    options: BackupOptions,
    ctx: OperationContext,
) -> Snapshot | None:
    """Under the lock: the index, adoption of a killed run's packs, the rotation warning,
    and the parent snapshot (the newest full-key one of this host and these paths)."""
    repo.blobs.load_index(reload=True)  # as of the lock: older views may name pruned packs
    if not options.dry_run:  # reuse what a killed or cancelled run uploaded
        adopt_unindexed(repo, events=ctx.events)
    if not options.dry_run and not options.auto_rotate:
        _rotation_check(repo, ctx, rotate_if_due=False)
    history = sync_snapshots(catalog, repo, ctx.events, ctx.cancel)
    if options.force:  # everything is read again: no parent
        return None
    if options.parent:
        chosen = select_snapshot(history, options.parent)
        if is_agent_snapshot(chosen) or snapshot_trust(repo.keys.keyring, chosen) != FULL_KEY:
            raise UsageError(
                f"snapshot {chosen.short_id} was not written with the full key; "
                "only such a snapshot can be a parent"
            )
        return chosen
    # Never an agent's snapshot as parent (design D9): only full-key ones.
    same = [
        s
        for s in history
        if s.host == host
        and sorted(s.paths) == sources
        and not is_agent_snapshot(s)
        and snapshot_trust(repo.keys.keyring, s) == FULL_KEY
    ]
    return same[-1] if same else None


def _parent_inventory(repo: Repository | None, parent: Snapshot | None) -> Inventory | None:
    """The parent snapshot's inventory (inside it, else its sidecar), or None.

    Without it, unchanged files are looked at again; a damaged one only costs that.
    """
    if repo is None or parent is None:
        return None
    try:
        stored = repo.snapshots.load(parent.id)  # the catalog keeps no inventory
        found = snapshot_inventory(stored)
        if found is None:
            found = repo.inventories.load(parent.id)
    except KeyarkError:
        return None
    return found


def _record_inventory(
    recorder: InventoryRecorder, started: datetime, ctx: OperationContext
) -> bytes:
    """The encoded inventory of this backup, warning about files it could not parse."""
    encoded = recorder.encoded(started)  # assembled by the worker when it could
    for failure in recorder.failures:
        ctx.events.warn(
            Code.INVENTORY, f"key material not recognised in {failure}", subject=failure
        )
    return encoded


def _rotation_check(repo: Repository, ctx: OperationContext, *, rotate_if_due: bool) -> None:
    """Warn when the data key is due for rotation, or rotate first (``auto_rotate``).

    Rotating takes an exclusive lock, so it runs before the backup's shared lock; the
    warning alone uses the index the backup loads under its lock.
    """
    from keyark.maintenance.rotate import rotate, rotation_due

    if rotate_if_due:
        repo.blobs.load_index()
    due, warn, reason = rotation_due(repo)
    if due and rotate_if_due:
        key_id = rotate(repo, ctx=ctx)
        ctx.events.warn(Code.ROTATION_DUE, f"{reason}: rotated, data key {key_id} is now current")
    elif warn:
        advice = "rotate the data key ('key rotate'), or back up with auto_rotate"
        ctx.events.warn(Code.ROTATION_DUE, f"{reason}; {advice}" if due else reason)


def _stream_name(options: BackupOptions) -> str | None:
    """The file name a stream is backed up under, or None when paths are backed up."""
    if not (options.stdin or options.stdin_command):
        return None
    if options.stdin and options.stdin_command:
        raise UsageError("back up standard input or a command's output, not both")
    lists = options.files_from + options.files_from_verbatim + options.files_from_raw
    if options.paths or lists:
        raise UsageError("a stream is backed up alone: no paths or file lists with it")
    return check_stream_name(options.stdin_filename)


def _snapshot_sources(
    options: BackupOptions, stream: str | None, ctx: OperationContext | None
) -> tuple[list[str], list[str]]:
    """(the source paths to walk, the snapshot's paths: those and the commands' files)."""
    if stream:
        if options.command_sources:
            raise UsageError("a stream is backed up alone: no command outputs with it")
        return ["/" + stream], ["/" + stream]
    given = _source_paths(options, ctx)
    if not given and options.command_sources:
        sources: list[str] = []
    else:
        sources = normalize_sources(given)
    outputs = check_command_paths(options.command_sources, sources)
    return sources, sorted([*sources, *outputs])


def snapshot_paths(options: BackupOptions) -> list[str]:
    """The paths a backup with ``options`` records in its snapshot (what forget and
    the parent choice group by): its sources and its command outputs' files."""
    return _snapshot_sources(options, _stream_name(options), None)[1]


def _source_paths(options: BackupOptions, ctx: OperationContext | None) -> list[str]:
    """The paths given plus those the file lists name (restic's order: lists first)."""

    def warn(message: str, pattern: str) -> None:
        if ctx is not None:
            ctx.events.warn(Code.SOURCE_UNMATCHED, message, subject=pattern)

    return [
        *files_from(options.files_from, warn),
        *files_from_verbatim(options.files_from_verbatim),
        *files_from_raw(options.files_from_raw),
        *options.paths,
    ]


def _wall_clock() -> str:
    """Now, in ISO 8601 with the local zone."""
    return datetime.now().astimezone().isoformat()


def agent_cache(repo: AgentRepository, ctx: OperationContext) -> AgentCache:
    """The local dedup cache of the agent that opened ``repo``."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in repo.credential.name)
    return AgentCache(ctx.cache_root / repo.repo_id / f"agent-{name}.sqlite")


def _snapshot_summary(summary: BackupSummary) -> dict[str, object]:
    keys = (
        "files_new",
        "files_changed",
        "files_unchanged",
        "dirs_new",
        "dirs_changed",
        "dirs_unchanged",
        "data_blobs",
        "tree_blobs",
        "bytes_processed",
        "bytes_added",
    )
    data: dict[str, object] = {key: getattr(summary, key) for key in keys}
    data["total_files"] = summary.total_files
    data["duration_seconds"] = round(summary.duration_seconds, 3)
    data["errors"] = len(summary.errors)
    return data


__all__ = ["BackupOptions", "CommandSourceSpec", "agent_cache", "backup", "snapshot_paths"]
