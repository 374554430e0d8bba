"""The backup pipeline entry (repository level)."""

from __future__ import annotations

import getpass
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime

from keyark import __version__
from keyark.archiver.agent_cache import AgentCache
from keyark.archiver.archiver import Archiver, Progress
from keyark.archiver.sources import ExcludeMatcher, normalize_sources, read_exclude_file
from keyark.catalog.catalog import default_cache_dir
from keyark.catalog.sync import open_catalog, sync_snapshots
from keyark.compress import CompressionSpec
from keyark.crypto.agents import FULL_KEY
from keyark.ops._compat import Context
from keyark.ops._snapshots import snapshot_trust
from keyark.repo import key_store
from keyark.repo.adoption import adopt_unindexed
from keyark.repo.pack import pack_id_from_name
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, now
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.results import BackupSummary


@dataclass
class BackupOptions:
    """Options of ``backup``."""

    tags: list[str] = field(default_factory=list)
    host: str | None = None
    excludes: list[str] = field(default_factory=list)
    exclude_files: list[str] = field(default_factory=list)
    compression: CompressionSpec | None = None
    dry_run: bool = False
    time: datetime | None = None
    #: Rotate the data key first when the rotation policy says it is due.
    auto_rotate: bool = False


def backup(
    repo: Repository,
    paths: list[str],
    options: BackupOptions | None = None,
    *,
    ctx: Context | None = None,
    progress: Progress | None = None,
) -> BackupSummary:
    """Back up ``paths``; the summary says what happened (``complete`` False = exit 3)."""
    options = options or BackupOptions()
    ctx = ctx or Context()
    sources = normalize_sources(paths)
    patterns = list(options.excludes)
    for exclude_file in options.exclude_files:
        patterns.extend(read_exclude_file(exclude_file))
    if options.compression is not None:
        repo.set_compression(options.compression)
    agent = repo.agent
    if agent is not None:
        host = agent.credential.choose_host(options.host, socket.gethostname())
    else:
        host = options.host or socket.gethostname()
    started = options.time or now()
    clock = time.monotonic()
    summary = BackupSummary(dry_run=options.dry_run)
    catalog = None if agent is not None else open_catalog(repo, ctx.cache_dir)
    cache = None if agent is None else agent_cache(repo, ctx)
    try:
        if agent is None and not options.dry_run and options.auto_rotate:
            _rotation_check(repo, ctx, rotate_if_due=True)
        with repo.lock("backup", retry=ctx.retry_lock):
            # The keyring as of the lock: a rotation before it may have deleted our key.
            key_store.refresh_keyring(repo)
            sealing_key = repo.keyring.current.key_id
            parent: Snapshot | None = None
            if catalog is not None:
                repo.load_index(reload=True)  # as of the lock: older views may name pruned packs
                if not options.dry_run:  # reuse what a killed run uploaded (issue 9)
                    adopt_unindexed(repo, warn=ctx.warn)
                if not options.dry_run and not options.auto_rotate:
                    _rotation_check(repo, ctx, rotate_if_due=False)
                history = sync_snapshots(catalog, repo, ctx.warn)
                # Never an agent's snapshot as parent (design D9): only full-key ones.
                same = [
                    s
                    for s in history
                    if s.host == host
                    and sorted(s.paths) == sources
                    and not is_agent_snapshot(s)
                    and snapshot_trust(repo, s) == FULL_KEY
                ]
                parent = same[-1] if same else None
            elif cache is not None:
                present = {
                    pid: size
                    for name, size in repo.iter_pack_names()
                    if (pid := pack_id_from_name(name)) is not None
                }
                cache.load_into(repo.index, present)
                repo.pack_listeners.append(cache.add_pack)
                if agent is not None and not options.dry_run:
                    agent.store(repo.backend)
            stored_before = repo.packer().bytes_uploaded
            summary.parent = parent.id if parent else None
            matcher = ExcludeMatcher(patterns)
            if progress is not None and progress.want_totals:
                progress.scan(sources, matcher)
            archiver = Archiver(
                repo, matcher, summary, progress, options.dry_run, ctx.warn, file_cache=cache
            )
            tree = archiver.run(sources, parent.tree if parent else None)
            if options.dry_run:
                summary.duration_seconds = time.monotonic() - clock
                return summary
            key_store.require_current_key(repo, sealing_key)  # before index and snapshot
            repo.flush()
            summary.bytes_stored = repo.packer().bytes_uploaded - stored_before
            summary.duration_seconds = time.monotonic() - clock
            snapshot = Snapshot(
                time=started,
                host=host,
                username=_username(),
                uid=os.getuid(),
                gid=os.getgid(),
                paths=sources,
                tree=tree,
                tags=list(options.tags),
                parent=summary.parent,
                excludes=patterns,
                summary=_snapshot_summary(summary),
                program_version=f"keyark {__version__}",
            )
            summary.snapshot_id = repo.save_snapshot(snapshot)
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


def _rotation_check(repo: Repository, ctx: Context, *, rotate_if_due: bool) -> None:
    """Warn when the data key is due for rotation, or rotate first (``--auto-rotate``).

    Rotating takes an exclusive lock, so it runs before the backup's shared lock; the
    warning alone uses the index the backup loads under its lock.
    """
    from keyark.maintenance.rotate import rotate, rotation_due

    if rotate_if_due:
        repo.load_index()
    due, warn, reason = rotation_due(repo)
    if due and rotate_if_due:
        key_id = rotate(repo, retry_lock=ctx.retry_lock)
        if ctx.warn is not None:
            ctx.warn(f"{reason}: rotated, data key {key_id} is now current")
    elif warn and ctx.warn is not None:
        advice = "run 'keyark key rotate' or back up with --auto-rotate"
        ctx.warn(f"{reason}; {advice}" if due else reason)


def agent_cache(repo: Repository, ctx: Context) -> AgentCache:
    """The local dedup cache of the agent that opened ``repo``."""
    assert repo.agent is not None
    base = ctx.cache_dir or default_cache_dir()
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in repo.agent.credential.name)
    return AgentCache(base / repo.repo_id / f"agent-{name}.sqlite")


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


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
