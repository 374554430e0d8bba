"""The inventories of stored snapshots: read back, built afterwards, searched.

A snapshot's inventory is inside the snapshot object (recorded by the backup) or in
its sidecar (``inventory build``: see :mod:`keyark.repo.inventory`). The catalog
keeps no inventory, so each is read from the repository, verified and validated.
Building one reads the snapshot's candidate files from storage (the full key is
needed): the same recognisers as the backup, linked as of the snapshot's time.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass

from keyark.cancel import CancelToken
from keyark.catalog.trees import TreeLoader, walk
from keyark.errors import KeyarkError
from keyark.inventory.model import (
    HEAD_BYTES,
    MAX_CANDIDATE_SIZE,
    Finding,
    Inventory,
    is_candidate,
    link,
    recognise,
)
from keyark.inventory.query import holds_fingerprint
from keyark.repo.inventory import InventorySidecars, snapshot_inventory
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import FILE

#: Where a snapshot's inventory came from.
IN_SNAPSHOT = "snapshot"
SIDECAR = "sidecar"


@dataclass
class StoredInventory:
    """A snapshot (as stored, with its own fields) and its inventory, if any."""

    snapshot: Snapshot
    inventory: Inventory | None
    #: :data:`IN_SNAPSHOT`, :data:`SIDECAR`, or None when it has none.
    source: str | None


def sidecars(repo: Repository) -> InventorySidecars:
    """The repository's sidecar inventories."""
    return repo.inventories


def stored_inventory(repo: Repository, snapshot: Snapshot) -> StoredInventory:
    """The inventory of ``snapshot`` (verified and validated; errors raise).

    The snapshot object is loaded again (the catalog keeps no inventory); its
    trust fields (``extra``) are taken over from ``snapshot``.
    """
    stored = repo.snapshots.load(snapshot.id)
    stored.extra = {**stored.extra, **snapshot.extra}
    inside = snapshot_inventory(stored)
    if inside is not None:
        return StoredInventory(stored, inside, IN_SNAPSHOT)
    beside = sidecars(repo).load(snapshot.id)
    return StoredInventory(stored, beside, SIDECAR if beside is not None else None)


def build_inventory(
    repo: Repository, snapshot: Snapshot, load: TreeLoader, cancel: CancelToken
) -> Inventory:
    """Compute ``snapshot``'s inventory from its stored files (linked as of its time)."""
    findings: list[Finding] = []
    for entry in walk(load, snapshot.tree, cancel=cancel):
        node = entry.node
        if node.type != FILE or not 0 < node.size <= MAX_CANDIDATE_SIZE or not node.content:
            continue
        first = repo.blobs.load_blob(node.content[0])
        if not is_candidate(entry.path, node.size, first[:HEAD_BYTES]):
            continue
        data = b"".join([first, *(repo.blobs.load_blob(blob) for blob in node.content[1:])])
        findings.extend(
            recognise(entry.path, data, mode=stat.S_IMODE(node.mode), uid=node.uid, gid=node.gid)
        )
    return Inventory(findings=link(findings, snapshot.time), created=snapshot.time)


@dataclass(frozen=True)
class FingerprintMatch:
    """A snapshot holding key material with the fingerprint looked for."""

    snapshot: Snapshot
    finding: Finding


def find_fingerprint(
    repo: Repository,
    snapshots: list[Snapshot],
    fingerprint: str,
    unreadable: list[tuple[Snapshot, KeyarkError]],
    missing: list[Snapshot],
) -> Iterator[FingerprintMatch]:
    """Every finding whose fingerprint or public-key fingerprint is ``fingerprint``.

    Snapshots whose inventory cannot be read are added to ``unreadable``, those
    without one to ``missing``.
    """
    for snapshot in snapshots:
        try:
            found = stored_inventory(repo, snapshot).inventory
        except KeyarkError as error:
            unreadable.append((snapshot, error))
            continue
        if found is None:
            missing.append(snapshot)
            continue
        for finding in found.findings:
            if holds_fingerprint(finding, fingerprint):
                yield FingerprintMatch(snapshot, finding)


__all__ = [
    "IN_SNAPSHOT",
    "SIDECAR",
    "FingerprintMatch",
    "StoredInventory",
    "build_inventory",
    "find_fingerprint",
    "sidecars",
    "stored_inventory",
]
