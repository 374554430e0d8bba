"""Keeping the catalog in step with the repository."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from keyark.cache_dir import default_cache_dir
from keyark.catalog.catalog import Catalog
from keyark.errors import BackendError, IntegrityError
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import Node

log = logging.getLogger("keyark.catalog")


def open_catalog(repo: Repository, cache_dir: Path | None = None) -> Catalog:
    """The catalog of ``repo`` in the cache directory (created if missing)."""
    base = cache_dir or default_cache_dir()
    return Catalog(base / repo.repo_id / "catalog.sqlite")


def sync_snapshots(
    catalog: Catalog, repo: Repository, warn: Callable[[str], None] | None = None
) -> list[Snapshot]:
    """Add snapshots the catalog lacks, drop those the repository lost; return all.

    If the catalog lost its content on the way (a full cache disk: see
    :class:`Catalog`), the sync runs again against the now in-memory catalog.
    """
    generation = catalog.generation
    found = _sync(catalog, repo, warn)
    if catalog.generation != generation:
        found = _sync(catalog, repo, warn)
    return found


def _sync(catalog: Catalog, repo: Repository, warn: Callable[[str], None] | None) -> list[Snapshot]:
    present = set(repo.snapshot_ids())
    known = catalog.snapshot_ids()
    gone = known - present
    if gone:
        catalog.remove_snapshots(gone)
    loaded: list[Snapshot] = []
    for snapshot_id in sorted(present - known):
        try:
            loaded.append(repo.load_snapshot(snapshot_id))
        except (IntegrityError, BackendError) as error:
            message = f"snapshot {snapshot_id[:8]} cannot be read: {error}"
            log.warning(message)
            if warn is not None:
                warn(message)
    if loaded:
        catalog.add_snapshots(loaded)
    return catalog.snapshots()


def tree_loader(
    catalog: Catalog, repo: Repository, fresh: dict[bytes, list[Node]] | None = None
) -> Callable[[bytes], list[Node]]:
    """A loader that reads trees from the catalog, filling it from the repository."""

    def from_repo(tree_id: bytes) -> list[Node]:
        if fresh is not None and tree_id in fresh:
            return fresh[tree_id]
        repo.load_index()
        return repo.load_tree(tree_id)

    def load(tree_id: bytes) -> list[Node]:
        if not catalog.has_tree(tree_id):
            catalog.ensure_trees(tree_id, from_repo)
        return catalog.tree(tree_id)

    return load
