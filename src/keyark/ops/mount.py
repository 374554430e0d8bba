"""``mount``: serve the repository's snapshots as a read-only filesystem until unmounted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from keyark.catalog.snapshots import list_snapshots
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.events import Code
from keyark.mount.cache import DEFAULT_CACHE_BYTES as DEFAULT_CACHE_BYTES
from keyark.mount.cache import BlobCache
from keyark.mount.filesystem import SnapshotFilesystem
from keyark.mount.session import check_mountpoint, serve
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, is_trusted
from keyark.repo.snapshot_trust import is_agent_snapshot


@dataclass
class MountOptions:
    """Where to mount, which snapshots to show, and how much decrypted content to cache.

    ``selection`` (hosts, tags, paths) narrows the snapshots shown; flagged snapshots
    (unsigned, foreign host, ...) are left out unless ``allow_unsigned``. The snapshot
    list is read again every ``refresh_seconds`` (None: only at the start).
    """

    mountpoint: str
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    #: Bytes of decrypted blobs kept in memory (least recently used go first).
    cache_size: int = DEFAULT_CACHE_BYTES
    #: Let other users enter the mount (the kernel then checks permission bits).
    allow_other: bool = False
    #: Show flagged snapshots too.
    allow_unsigned: bool = False
    refresh_seconds: float | None = 60.0


@dataclass
class MountResult:
    """What the mount served, once it was unmounted."""

    mountpoint: str
    snapshots: int
    seconds: float = 0.0
    files_opened: int = 0
    bytes_read: int = 0
    blobs_loaded: int = 0
    cache_hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mountpoint": self.mountpoint,
            "snapshots": self.snapshots,
            "seconds": round(self.seconds, 3),
            "files_opened": self.files_opened,
            "bytes_read": self.bytes_read,
            "blobs_loaded": self.blobs_loaded,
            "cache_hits": self.cache_hits,
        }


def _shown(
    repo: Repository, ctx: OperationContext, options: MountOptions, warn: bool
) -> list[Snapshot]:
    """The snapshots the mount shows: the selection's, flagged ones only if allowed."""
    found = list_snapshots(repo, ctx, options.selection)
    if options.allow_unsigned:
        return found
    trusted = [s for s in found if is_trusted(s)]
    if warn and len(trusted) < len(found):
        ctx.events.warn(
            Code.SNAPSHOT_UNTRUSTED,
            f"{len(found) - len(trusted)} flagged snapshot(s) are not shown "
            "(unsigned or not from a registered agent); allow unsigned snapshots to see them",
        )
    return trusted


@operation("mount", options=MountOptions, result=MountResult, mutates=False, reads_secrets=True)
def mount(ctx: OperationContext, options: MountOptions) -> MountResult:
    """Serve the snapshots as a read-only filesystem at a mount point until it is unmounted.

    ``snapshots/<time>/``, ``hosts/<host>/<time>/``, ``tags/<tag>/<time>/`` and
    ``ids/<short id>/`` with a ``latest`` link in each listing; file content is read
    lazily, blob by blob, through a cache of at most ``cache_size`` bytes. Holds a
    shared lock while mounted. Emits a ``mounted`` progress event once the mount is up;
    ends when the mount is unmounted (a signal, ``fusermount -u``) or cancelled.
    """
    if options.cache_size < 0:
        raise UsageError("the cache size cannot be negative")
    mountpoint = check_mountpoint(options.mountpoint)
    with opened(ctx) as repo, repo.lock("mount", retry=ctx.lock_wait):
        repo.blobs.load_index(reload=True)
        first = [True]

        def source() -> list[Snapshot]:
            shown = _shown(repo, ctx, options, first[0])
            first[0] = False
            return shown

        def report(path: str, error: Exception) -> None:
            ctx.events.warn(Code.MOUNT_READ, f"{path}: {error}", subject=path)

        cache = BlobCache(repo.blobs.load_blob, options.cache_size)
        # Listings come from the verified tree blobs, not the catalog: the catalog keeps
        # no xattrs, ctimes, link counts or device numbers, and the mount shows them all.
        filesystem = SnapshotFilesystem(
            source,
            repo.blobs.load_tree,
            cache,
            repo.blobs.index.raw_length,
            drops_privileges=is_agent_snapshot,
            refresh_seconds=options.refresh_seconds,
            on_error=report,
        )
        clock = time.monotonic()
        serve(
            filesystem,
            mountpoint,
            cancel=ctx.cancel,
            on_mounted=lambda: ctx.events.progress("mounted", current=mountpoint, final=True),
            allow_other=options.allow_other,
        )
    return MountResult(
        mountpoint,
        len(filesystem.snapshots),
        time.monotonic() - clock,
        filesystem.stats.files_opened,
        filesystem.stats.bytes_read,
        cache.stats.loads,
        cache.stats.hits,
    )
