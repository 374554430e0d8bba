"""The directories above the snapshot trees: ``snapshots/``, ``hosts/``, ``tags/``, ``ids/``.

Each listing of snapshots holds one directory per snapshot, named by its time
(:func:`~keyark.mount.names.unique_time_names`), and a ``latest`` link to the newest
one. ``ids/`` names each snapshot by its short id instead. A snapshot directory is the
root of its tree; what is below it comes from the snapshot's tree blobs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from keyark.mount.names import LATEST, component, unique_time_names
from keyark.repo.snapshot import Snapshot

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def snapshot_ns(snapshot: Snapshot) -> int:
    """The snapshot's time in ns since the epoch (the mtime of its directory)."""
    moment = snapshot.time if snapshot.time.tzinfo else snapshot.time.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


@dataclass(frozen=True)
class Link:
    """A symbolic link of the layout (``latest``): its target, relative to its directory."""

    target: str
    mtime_ns: int


@dataclass(frozen=True)
class SnapshotRoot:
    """The directory of one snapshot: the root of its tree."""

    snapshot: Snapshot


@dataclass
class Folder:
    """A directory of the layout: its entries by name."""

    entries: dict[str, Folder | Link | SnapshotRoot] = field(default_factory=dict)
    mtime_ns: int = 0

    def folder(self, name: str) -> Folder:
        """The sub-folder ``name`` (created when missing)."""
        found = self.entries.get(name)
        if not isinstance(found, Folder):
            found = self.entries[name] = Folder()
        return found


#: Anything the layout holds.
Item = Folder | Link | SnapshotRoot


def _fill(folder: Folder, snapshots: list[Snapshot], names: dict[str, str]) -> None:
    """One directory per snapshot (by time name) and ``latest`` -> the newest."""
    for snapshot in snapshots:
        folder.entries[names[snapshot.id]] = SnapshotRoot(snapshot)
    if snapshots:
        newest = max(snapshots, key=lambda s: (s.time, s.id))
        folder.mtime_ns = snapshot_ns(newest)
        folder.entries[LATEST] = Link(names[newest.id], folder.mtime_ns)


def build_layout(snapshots: Iterable[Snapshot]) -> Folder:
    """The root folder: ``snapshots/``, ``hosts/<host>/``, ``tags/<tag>/`` and ``ids/``."""
    chosen = sorted(snapshots, key=lambda s: (s.time, s.id))
    names = unique_time_names(chosen)
    root = Folder()
    _fill(root.folder("snapshots"), chosen, names)
    by_host: dict[str, list[Snapshot]] = {}
    by_tag: dict[str, list[Snapshot]] = {}
    for snapshot in chosen:
        by_host.setdefault(component(snapshot.host), []).append(snapshot)
        for tag in set(snapshot.tags):
            by_tag.setdefault(component(tag), []).append(snapshot)
    for parent, groups in (("hosts", by_host), ("tags", by_tag)):
        folder = root.folder(parent)
        for name, group in sorted(groups.items()):
            _fill(folder.folder(name), group, names)
        folder.mtime_ns = max((f.mtime_ns for f in _folders(folder)), default=0)
    ids = root.folder("ids")
    for snapshot in chosen:
        ids.entries[snapshot.short_id] = SnapshotRoot(snapshot)
    newest = max((snapshot_ns(s) for s in chosen), default=0)
    root.mtime_ns = ids.mtime_ns = newest
    return root


def _folders(folder: Folder) -> list[Folder]:
    return [item for item in folder.entries.values() if isinstance(item, Folder)]


__all__ = ["Folder", "Item", "Link", "SnapshotRoot", "build_layout", "snapshot_ns"]
