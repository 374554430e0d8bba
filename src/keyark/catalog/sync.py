"""Keeping the catalog in step with the repository."""

from __future__ import annotations

import logging
from pathlib import Path

from keyark.cancel import NEVER, CancelToken
from keyark.catalog.catalog import Catalog
from keyark.catalog.trees import TreeLoader
from keyark.errors import BackendError, IntegrityError
from keyark.events import Code, Events
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import Node

log = logging.getLogger("keyark.catalog")


def open_catalog(repo: Repository, cache_dir: Path) -> Catalog:
    """The catalog of ``repo`` in the cache directory ``cache_dir`` (created if missing)."""
    return Catalog(cache_dir / repo.repo_id / "catalog.sqlite")


def sync_snapshots(
    catalog: Catalog, repo: Repository, events: Events | None = None, cancel: CancelToken = NEVER
) -> list[Snapshot]:
    """Add snapshots the catalog lacks, drop those the repository lost; return all.

    A snapshot that cannot be read is passed over with a ``snapshot.damaged`` warning.
    If the catalog lost its content on the way (a full cache disk: see
    :class:`Catalog`), the sync runs again against the now in-memory catalog.
    """
    generation = catalog.generation
    found = _sync(catalog, repo, events, cancel)
    if catalog.generation != generation:
        found = _sync(catalog, repo, events, cancel)
    return found


def _sync(
    catalog: Catalog, repo: Repository, events: Events | None, cancel: CancelToken
) -> list[Snapshot]:
    present = set(repo.snapshots.ids())
    known = catalog.snapshot_ids()
    gone = known - present
    if gone:
        catalog.remove_snapshots(gone)
    loaded: list[Snapshot] = []
    for snapshot_id in sorted(present - known):
        cancel.check()
        try:
            loaded.append(repo.snapshots.load(snapshot_id))
        except (IntegrityError, BackendError) as error:
            message = f"snapshot {snapshot_id[:8]} cannot be read: {error}"
            log.warning(message)
            if events is not None:
                events.warn(Code.SNAPSHOT_DAMAGED, message, subject=snapshot_id)
    if loaded:
        catalog.add_snapshots(loaded)
    return catalog.snapshots()


def tree_loader(
    catalog: Catalog, repo: Repository, fresh: dict[bytes, list[Node]] | None = None
) -> TreeLoader:
    """A loader that reads trees from the catalog, filling it from the repository."""

    def from_repo(tree_id: bytes) -> list[Node]:
        if fresh is not None and tree_id in fresh:
            return fresh[tree_id]
        repo.blobs.load_index()
        return repo.blobs.load_tree(tree_id)

    def load(tree_id: bytes) -> list[Node]:
        if not catalog.has_tree(tree_id):
            catalog.ensure_trees(tree_id, from_repo)
        return catalog.tree(tree_id)

    return load


__all__ = ["open_catalog", "sync_snapshots", "tree_loader"]
