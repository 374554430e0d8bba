"""``stats``: logical size, stored size, dedup and compression ratios, blob counts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from keyark.cancel import NEVER, CancelToken
from keyark.catalog.trees import TreeLoader, unique_trees, walk
from keyark.repo.pack import DATA, TREE
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, FILE
from keyark.results import Summary

#: restic's ``stats --mode`` values: what ``total_size`` and the counts measure.
RESTORE_SIZE = "restore-size"
FILES_BY_CONTENTS = "files-by-contents"
BLOBS_PER_FILE = "blobs-per-file"
RAW_DATA = "raw-data"
STATS_MODES = (RESTORE_SIZE, FILES_BY_CONTENTS, BLOBS_PER_FILE, RAW_DATA)


@dataclass
class RepoStats(Summary):
    """Sizes and ratios of a repository (or of some snapshots).

    ``mode`` picks what restic's fields ``total_size``, ``total_file_count`` and
    ``total_blob_count`` measure: ``restore-size`` (every entry and file size as if
    each snapshot were restored), ``files-by-contents`` (files with distinct contents),
    ``blobs-per-file`` (each file with distinct contents, by path, and the distinct data
    blobs it references, their plaintext sizes) or ``raw-data`` (the distinct blobs as
    stored, before and after compression).
    keyark's own fields are computed in every mode.
    """

    snapshots: int = 0
    files: int = 0
    logical_size: int = 0
    unique_size: int = 0
    stored_blob_size: int = 0
    repository_size: int = 0
    data_blobs: int = 0
    tree_blobs: int = 0
    packs: int = 0
    mode: str = RESTORE_SIZE
    total_size: int = 0
    total_file_count: int = 0
    total_blob_count: int = 0
    total_uncompressed_size: int = 0

    @property
    def dedup_ratio(self) -> float:
        return self.logical_size / self.unique_size if self.unique_size else 1.0

    @property
    def compression_ratio(self) -> float:
        return self.unique_size / self.stored_blob_size if self.stored_blob_size else 1.0

    def derived(self) -> dict[str, Any]:
        return {
            "dedup_ratio": round(self.dedup_ratio, 3),
            "compression_ratio": round(self.compression_ratio, 3),
            "snapshots_count": self.snapshots,
        }


def stats(
    repo: Repository,
    snapshots: list[Snapshot],
    load_tree: TreeLoader,
    cancel: CancelToken = NEVER,
    mode: str = RESTORE_SIZE,
) -> RepoStats:
    """Sizes over ``snapshots``: logical (restore size) and what their unique blobs take,
    and restic's totals for ``mode`` (see :class:`RepoStats`).

    Every snapshot walked is a cancel checkpoint.
    """
    repo.blobs.load_index()
    result = RepoStats(snapshots=len(snapshots), mode=mode)
    result.packs = len(repo.blobs.index.packs())
    result.repository_size = sum(size for _name, size in repo.packs.names())

    @cache
    def tree_totals(tree_id: bytes) -> tuple[int, int, int]:
        entries = files = size = 0
        for node in load_tree(tree_id):
            entries += 1
            if node.type == FILE:
                files += 1
                size += node.size
            elif node.type == DIR and node.subtree is not None:
                sub_entries, sub_files, sub_size = tree_totals(node.subtree)
                entries += sub_entries
                files += sub_files
                size += sub_size
        return entries, files, size

    entries = 0
    for snapshot in snapshots:
        cancel.check()
        counted, files, size = tree_totals(snapshot.tree)
        entries += counted
        result.files += files
        result.logical_size += size
    seen_trees: set[bytes] = set()
    seen_blobs: set[bytes] = set()
    contents: dict[tuple[bytes, ...], int] = {}
    for tree_id, nodes in unique_trees(load_tree, [s.tree for s in snapshots], cancel=cancel):
        seen_trees.add(tree_id)
        for node in nodes:
            if node.type == FILE:
                seen_blobs.update(node.content)
                contents[tuple(node.content)] = node.size
    stored = raw = 0
    for blob_id in seen_blobs | seen_trees:
        location = repo.blobs.index.get(blob_id)
        if location is None:
            continue
        if location.kind == DATA:
            result.data_blobs += 1
            result.unique_size += location.raw_length
        elif location.kind == TREE:
            result.tree_blobs += 1
        result.stored_blob_size += location.length if location.kind == DATA else 0
        stored += location.length
        raw += location.raw_length
    if mode == BLOBS_PER_FILE:
        counts = _blobs_per_file(repo, snapshots, load_tree, cancel)
        result.total_file_count, result.total_blob_count, result.total_size = counts
    elif mode == FILES_BY_CONTENTS:
        result.total_file_count, result.total_size = len(contents), sum(contents.values())
    elif mode == RAW_DATA:
        result.total_size, result.total_uncompressed_size = stored, raw
        result.total_blob_count = result.data_blobs + result.tree_blobs
    else:
        result.total_file_count, result.total_size = entries, result.logical_size
    return result


def _blobs_per_file(
    repo: Repository, snapshots: list[Snapshot], load_tree: TreeLoader, cancel: CancelToken
) -> tuple[int, int, int]:
    """restic's ``blobs-per-file`` totals: (files, blob references, size).

    A file counts the first time its contents are seen (in snapshot and walk order);
    such a file adds, per path, each distinct data blob it references and that blob's
    plaintext size. A file without contents adds nothing (restic's rule).
    """
    seen_contents: set[tuple[bytes, ...]] = set()
    blobs_by_path: dict[str, set[bytes]] = {}
    blobs = size = 0
    for snapshot in snapshots:
        for entry in walk(load_tree, snapshot.tree, cancel=cancel):
            node = entry.node
            contents = tuple(node.content)
            if node.type != FILE or contents in seen_contents:
                continue
            seen_contents.add(contents)
            for blob_id in contents:
                counted = blobs_by_path.setdefault(entry.path, set())
                if blob_id in counted:
                    continue
                counted.add(blob_id)
                location = repo.blobs.index.get(blob_id)
                size += location.raw_length if location is not None else 0
                blobs += 1
    return len(blobs_by_path), blobs, size


__all__ = [
    "BLOBS_PER_FILE",
    "FILES_BY_CONTENTS",
    "RAW_DATA",
    "RESTORE_SIZE",
    "STATS_MODES",
    "RepoStats",
    "stats",
]
