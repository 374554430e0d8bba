"""Listing, selecting and browsing the snapshots of an open repository (through the catalog).

These are the pipelines of ``snapshots``, ``ls``, ``find``, ``diff``, ``dump``,
``restore`` (which snapshot) and ``catalog rebuild``: each takes the open repository
and the operation's context (its cache directory, events and cancel token).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from keyark.catalog.sync import open_catalog, sync_snapshots, tree_loader
from keyark.catalog.trees import TreeLoader
from keyark.context import OperationContext
from keyark.crypto.agents import TRUSTED
from keyark.errors import Hint, IntegrityError
from keyark.events import Code
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, filter_snapshots, select_snapshot
from keyark.repo.snapshot_trust import snapshot_trust


def list_snapshots(
    repo: Repository,
    ctx: OperationContext,
    selection: SnapshotFilter | None = None,
    latest: int | None = None,
) -> list[Snapshot]:
    """Snapshots matching the filter, oldest first, each with ``extra["trust"]`` set.

    Snapshots that cannot be read are passed over with a ``snapshot.damaged`` warning.
    """
    catalog = open_catalog(repo, ctx.cache_root)
    try:
        found = sync_snapshots(catalog, repo, ctx.events, ctx.cancel)
        for snapshot in found:
            snapshot.extra["trust"] = snapshot_trust(repo.keys.keyring, snapshot)
        return filter_snapshots(found, selection or SnapshotFilter(), latest)
    finally:
        catalog.close()


def require_trusted(
    repo: Repository, snapshot: Snapshot, allow_unsigned: bool, operation: str
) -> str:
    """The snapshot's trust; IntegrityError if it is flagged and not ``allow_unsigned``.

    ``full-key`` or ``signed`` are trusted; anything else is flagged (design D9).
    """
    trust = snapshot_trust(repo.keys.keyring, snapshot)
    if trust not in TRUSTED and not allow_unsigned:
        raise IntegrityError(
            f"snapshot {snapshot.short_id} is flagged ({trust}): it is not a full-key "
            f"snapshot or one signed by a registered, unrevoked agent for its host; "
            f"{operation} it only if unsigned snapshots are allowed",
            hint=Hint.ALLOW_UNSIGNED,
        )
    return trust


def find_snapshot(
    repo: Repository,
    ref: str | None,
    ctx: OperationContext,
    selection: SnapshotFilter | None = None,
    at: datetime | None = None,
) -> Snapshot:
    """Resolve an id, prefix, ``latest`` or a point in time (``at``) to one snapshot.

    ``latest``/``at`` skip flagged snapshots and say how many (a ``snapshot.untrusted``
    warning); an explicit id may name a flagged one (with a warning).
    """
    return select_snapshot(
        list_snapshots(repo, ctx),
        ref,
        selection or SnapshotFilter(),
        at,
        ctx.events.warner(Code.SNAPSHOT_UNTRUSTED),
    )


def choose_snapshots(
    repo: Repository,
    ctx: OperationContext,
    refs: Sequence[str] = (),
    selection: SnapshotFilter | None = None,
) -> list[Snapshot]:
    """The snapshots ``refs`` name (ids, prefixes, ``latest``; each once, oldest first),
    or without ``refs`` every snapshot ``selection`` matches."""
    if not refs:
        return list_snapshots(repo, ctx, selection)
    picked = {s.id: s for s in (find_snapshot(repo, ref, ctx, selection) for ref in refs)}
    return sorted(picked.values(), key=lambda s: (s.time, s.id))


@contextmanager
def browsing(repo: Repository, ctx: OperationContext) -> Iterator[TreeLoader]:
    """A tree loader for the block that reads through the catalog (filling it as it goes)."""
    catalog = open_catalog(repo, ctx.cache_root)
    try:
        yield tree_loader(catalog, repo)
    finally:
        catalog.close()


def rebuild_catalog(repo: Repository, ctx: OperationContext) -> int:
    """Drop the catalog and fill it again from the repository; how many snapshots it holds."""
    catalog = open_catalog(repo, ctx.cache_root)
    try:
        catalog.clear()
        found = sync_snapshots(catalog, repo, ctx.events, ctx.cancel)
        load = tree_loader(catalog, repo)
        for number, snapshot in enumerate(found, 1):
            ctx.cancel.check()
            load(snapshot.tree)
            ctx.events.progress("catalog", files_done=number, files_total=len(found))
        ctx.events.progress("catalog", files_done=len(found), files_total=len(found), final=True)
        return len(found)
    finally:
        catalog.close()


__all__ = [
    "browsing",
    "choose_snapshots",
    "find_snapshot",
    "list_snapshots",
    "rebuild_catalog",
    "require_trusted",
]
