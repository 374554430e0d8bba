"""The typed operations every face (CLI, Python API, scheduler, HTTP) calls.

No face holds business logic: each parses its input into these options, calls
one function here, and renders the typed result.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from keyark import __version__
from keyark.archiver.agent_cache import AgentCache
from keyark.archiver.archiver import Archiver, Progress
from keyark.archiver.sources import ExcludeMatcher, normalize_sources, read_exclude_file
from keyark.backends.registry import BackendOptions, open_storage
from keyark.catalog.catalog import default_cache_dir
from keyark.catalog.sync import open_catalog, sync_snapshots, tree_loader
from keyark.compress import CompressionSpec
from keyark.crypto import slots
from keyark.crypto.agents import FULL_KEY, TRUSTED
from keyark.errors import IntegrityError, KeyarkError, RestoreError, UsageError
from keyark.repo import key_store
from keyark.repo.adoption import adopt_unindexed
from keyark.repo.config import RepoConfig
from keyark.repo.full_disk import read_lock
from keyark.repo.pack import pack_id_from_name
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, filter_snapshots, now, select_snapshot
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.repo.snapshot_trust import snapshot_trust as _trust_of
from keyark.repo.tree import Node
from keyark.repo.trust_state import TrustState
from keyark.restorer.header_index import plan_restore
from keyark.restorer.plan import PathFilter
from keyark.restorer.restorer import OVERWRITE_MODES, Restorer
from keyark.results import BackupSummary, RestoreSummary
from keyark.storage import PUBLIC_KEY, open_repository_storage, persistent_settings

Warn = Callable[[str], None]


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


@dataclass
class RestoreOptions:
    """Options of ``restore``."""

    target: str
    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    verify: bool = False
    dry_run: bool = False
    overwrite: str = "always"
    #: Restore only this directory of the snapshot (``SNAPSHOT:subdir`` in restic).
    subpath: str = "/"
    #: Restore a snapshot that no registered agent signed (normally refused).
    allow_unsigned: bool = False
    #: Keep setuid/setgid bits and security.*, trusted.*, system.* xattrs of an agent
    #: snapshot (normally dropped: an agent must not plant privileges on the restore host).
    keep_privileges: bool = False


@dataclass
class Context:
    """Where client-side state lives (cache, catalog)."""

    cache_dir: Path | None = None
    warn: Warn | None = None
    #: Seconds to keep retrying a lock another process holds (``--retry-lock``).
    retry_lock: float = 0.0


# --------------------------------------------------------------------- repository
def init_repository(
    url: str,
    passphrase: bytes,
    *,
    kdf: str = "argon2id",
    pack_size_mib: int = 16,
    backend_options: BackendOptions | None = None,
) -> Repository:
    """Create a repository at ``url`` protected by ``passphrase``.

    The bucket or container is created when missing. Persistent backend settings
    (S3 Object Lock) are recorded in the config and apply to every later open.
    """
    if not passphrase:
        raise UsageError("an empty passphrase is not allowed")
    options = backend_options or BackendOptions()
    recorded = persistent_settings(url, options)
    backend = open_storage(url, options)
    try:
        create = getattr(backend, "create_container", None)
        if callable(create):
            create()
        return Repository.init(
            backend,
            passphrase,
            kdf=kdf,
            pack_size=pack_size_mib * 1024 * 1024,
            public={PUBLIC_KEY: recorded} if recorded else None,
        )
    except BaseException:
        backend.close()
        raise


def open_repository(
    url: str,
    credentials: slots.Credentials,
    backend_options: BackendOptions | None = None,
    cache_dir: Path | None = None,
) -> Repository:
    """Open and unlock the repository at ``url`` (with the backend settings it records).

    The config is authenticated, and what this client remembers about the repository
    (``<cache_dir>/trust/``, default cache dir when None) is checked and updated.
    """
    backend, config_bytes = open_repository_storage(url, backend_options)
    try:
        trust = None
        if config_bytes is not None:
            repo_id = RepoConfig.peek(config_bytes).get("id")
            if isinstance(repo_id, str):
                trust = TrustState.load(cache_dir or default_cache_dir(), repo_id)
        return Repository.open(backend, credentials, trust=trust, config_bytes=config_bytes)
    except BaseException:
        backend.close()
        raise


def change_passphrase(repo: Repository, new_passphrase: bytes, kdf: str = "argon2id") -> str:
    """Add a slot with ``new_passphrase``, then remove the slot used to open. Return its id."""
    if repo.root_key is None or repo.slot is None:
        raise UsageError("this key cannot change passphrases")
    if not new_passphrase:
        raise UsageError("an empty passphrase is not allowed")
    slot = slots.passphrase_slot(repo.root_key, new_passphrase, kdf)
    repo.add_slot(slot)  # durable before the old one goes
    if repo.slot.kind == slots.PASSPHRASE:
        repo.backend.delete(repo.slot.name)
    repo.slot = slot
    return slot.slot_id


# --------------------------------------------------------------------- snapshots
def snapshots(
    repo: Repository,
    selection: SnapshotFilter | None = None,
    latest: int | None = None,
    ctx: Context | None = None,
) -> list[Snapshot]:
    """Snapshots matching the filter, oldest first (through the catalog)."""
    ctx = ctx or Context()
    catalog = open_catalog(repo, ctx.cache_dir)
    try:
        found = sync_snapshots(catalog, repo, ctx.warn)
        for snapshot in found:
            snapshot.extra["trust"] = snapshot_trust(repo, snapshot)
        return filter_snapshots(found, selection or SnapshotFilter(), latest)
    finally:
        catalog.close()


def snapshot_trust(repo: Repository, snapshot: Snapshot) -> str:
    """``full-key`` or ``signed`` are trusted; anything else is flagged (design D9)."""
    return _trust_of(repo.keyring, snapshot)


def require_trusted(repo: Repository, snapshot: Snapshot, allow_unsigned: bool, verb: str) -> str:
    """The snapshot's trust; IntegrityError if it is flagged and not ``allow_unsigned``."""
    trust = snapshot_trust(repo, snapshot)
    if trust not in TRUSTED and not allow_unsigned:
        raise IntegrityError(
            f"snapshot {snapshot.short_id} is flagged ({trust}): it is not a full-key "
            f"snapshot or one signed by a registered, unrevoked agent for its host; "
            f"{verb} it only with --allow-unsigned"
        )
    return trust


def find_snapshot(
    repo: Repository,
    ref: str | None,
    selection: SnapshotFilter | None = None,
    at: datetime | None = None,
    ctx: Context | None = None,
) -> Snapshot:
    """Resolve an id, prefix, ``latest`` or a point in time to one snapshot.

    ``latest``/``at`` skip flagged snapshots and say how many through ``ctx.warn``; an
    explicit id may name a flagged one (with a warning).
    """
    ctx = ctx or Context()
    return select_snapshot(
        snapshots(repo, ctx=ctx), ref, selection or SnapshotFilter(), at, ctx.warn
    )


# --------------------------------------------------------------------- backup
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


# --------------------------------------------------------------------- restore
def restore(
    repo: Repository,
    snapshot: Snapshot,
    options: RestoreOptions,
    *,
    ctx: Context | None = None,
    progress: Progress | None = None,
) -> RestoreSummary:
    """Restore ``snapshot`` into ``options.target``.

    Raises :class:`RestoreError` naming what could not be restored, after
    restoring everything else; the summary is attached as ``error.summary``. A
    directory whose listing is unreadable is named ``/path/...``; blobs an unreadable
    index file listed are found from the pack headers (with a warning naming
    ``keyark repair index``).
    """
    ctx = ctx or Context()
    require_trusted(repo, snapshot, options.allow_unsigned, "restore")
    if options.overwrite not in OVERWRITE_MODES:
        raise UsageError(f"--overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    if not options.target:
        raise UsageError("restore needs a --target directory")
    # A shared lock: prune (exclusive) waits for or refuses a running restore, so no pack
    # the restore plans to read is deleted under it.
    with read_lock(repo, "restore", ctx.retry_lock, ctx.warn):  # none on a full disk
        return _restore_locked(repo, snapshot, options, ctx, progress)


def _restore_locked(
    repo: Repository,
    snapshot: Snapshot,
    options: RestoreOptions,
    ctx: Context,
    progress: Progress | None,
) -> RestoreSummary:
    repo.load_index(reload=True)  # packs prune replaced before our lock are gone now
    # Tolerant of damage: unreadable directories are listed, everything else restored.
    path_filter = PathFilter(options.includes, options.excludes)
    plan = plan_restore(repo, snapshot.tree, options.subpath, path_filter, ctx.warn)
    summary = RestoreSummary(snapshot_id=snapshot.id, target=os.path.abspath(options.target))
    for path, reason in plan.unreadable:
        summary.failed.append(path)
        summary.errors.append(f"{path}: {reason}")
        if ctx.warn is not None:
            ctx.warn(f"{path}: {reason}")
    restorer = Restorer(
        repo,
        options.target,
        summary,
        options.overwrite,
        progress,
        ctx.warn,
        drop_privileges=is_agent_snapshot(snapshot) and not options.keep_privileges,
    )
    restorer.run(plan, dry_run=options.dry_run)
    if options.verify and not options.dry_run:
        restorer.verify(plan.files)
    if summary.failed:
        names = ", ".join(summary.failed[:5]) + (" ..." if len(summary.failed) > 5 else "")
        error = RestoreError(
            f"{len(summary.failed)} entries could not be restored: {names} "
            "(everything else was restored)"
        )
        error.summary = summary  # type: ignore[attr-defined]
        raise error
    return summary


# --------------------------------------------------------------------- browsing
def browse_loader(
    repo: Repository, ctx: Context | None = None
) -> tuple[Callable[[bytes], list[Node]], Callable[[], None]]:
    """A catalog-backed tree loader and the function that closes it."""
    catalog = open_catalog(repo, (ctx or Context()).cache_dir)
    return tree_loader(catalog, repo), catalog.close


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


__all__ = [
    "BackupOptions",
    "Context",
    "KeyarkError",
    "RestoreOptions",
    "backup",
    "change_passphrase",
    "find_snapshot",
    "init_repository",
    "open_repository",
    "restore",
    "snapshots",
]
