"""Listing and selecting snapshots through the catalog (repository level)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from keyark.catalog.sync import open_catalog, sync_snapshots, tree_loader
from keyark.crypto.agents import TRUSTED
from keyark.errors import IntegrityError
from keyark.ops._compat import Context
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, filter_snapshots, select_snapshot
from keyark.repo.snapshot_trust import snapshot_trust as _trust_of
from keyark.repo.tree import Node


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


def browse_loader(
    repo: Repository, ctx: Context | None = None
) -> tuple[Callable[[bytes], list[Node]], Callable[[], None]]:
    """A catalog-backed tree loader and the function that closes it."""
    catalog = open_catalog(repo, (ctx or Context()).cache_dir)
    return tree_loader(catalog, repo), catalog.close
