"""Snapshots: one per backup, and how users pick them (id prefix, latest, --at)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack

from keyark.errors import FormatError, SnapshotNotFoundError, UsageError

SNAPSHOT_PREFIX = "snapshots/"


@dataclass
class Snapshot:
    """What one backup recorded; ``id`` is the SHA-256 of the stored object."""

    time: datetime
    host: str
    username: str
    paths: list[str]
    tree: bytes
    tags: list[str] = field(default_factory=list)
    parent: str | None = None
    uid: int = 0
    gid: int = 0
    excludes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    program_version: str = ""
    key_id: str = ""
    #: Extension fields for later features (agent name, signature, ...), kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def to_bytes(self) -> bytes:
        document = {
            "v": 1,
            "time": self.time.isoformat(),
            "host": self.host,
            "username": self.username,
            "uid": self.uid,
            "gid": self.gid,
            "paths": self.paths,
            "tags": self.tags,
            "tree": self.tree,
            "parent": self.parent,
            "excludes": self.excludes,
            "summary": self.summary,
            "program_version": self.program_version,
            "extra": self.extra,
        }
        return bytes(msgpack.packb(document, use_bin_type=True))

    @classmethod
    def from_bytes(cls, snapshot_id: str, data: bytes, key_id: str = "") -> Snapshot:
        try:
            document = msgpack.unpackb(data, raw=False)
            return cls(
                id=snapshot_id,
                time=datetime.fromisoformat(document["time"]),
                host=str(document["host"]),
                username=str(document.get("username", "")),
                uid=int(document.get("uid", 0)),
                gid=int(document.get("gid", 0)),
                paths=[str(p) for p in document["paths"]],
                tags=[str(t) for t in document.get("tags", [])],
                tree=bytes(document["tree"]),
                parent=document.get("parent"),
                excludes=list(document.get("excludes", [])),
                summary=dict(document.get("summary", {})),
                program_version=str(document.get("program_version", "")),
                key_id=key_id,
                extra=dict(document.get("extra", {})),
            )
        except (KeyError, ValueError, TypeError, msgpack.UnpackException) as error:
            raise FormatError(f"snapshot {snapshot_id[:8]} is malformed ({error})") from None

    def describe(self) -> dict[str, Any]:
        """The JSON view used by ``snapshots --json`` and the API."""
        return {
            "id": self.id,
            "short_id": self.short_id,
            "time": self.time.isoformat(),
            "host": self.host,
            "username": self.username,
            "paths": self.paths,
            "tags": self.tags,
            "tree": self.tree.hex(),
            "parent": self.parent,
            "summary": self.summary,
            "key_id": self.key_id,
            **{key: self.extra[key] for key in ("agent", "trust") if key in self.extra},
        }


@dataclass(frozen=True)
class SnapshotFilter:
    """``--host``, ``--tag`` and ``--path`` filters (each a set of alternatives)."""

    hosts: Sequence[str] = ()
    tags: Sequence[str] = ()
    paths: Sequence[str] = ()

    def matches(self, snapshot: Snapshot) -> bool:
        if self.hosts and snapshot.host not in self.hosts:
            return False
        if self.tags:
            # restic: each --tag value is "a,b" meaning all of a and b; any value may match.
            wanted = [set(filter(None, value.split(","))) for value in self.tags]
            if not any(group <= set(snapshot.tags) for group in wanted):
                return False
        return not (self.paths and not set(self.paths) <= set(snapshot.paths))


def filter_snapshots(
    snapshots: Iterable[Snapshot], selection: SnapshotFilter, latest: int | None = None
) -> list[Snapshot]:
    """Filtered snapshots, oldest first; ``latest`` keeps the newest N per host and paths."""
    chosen = sorted((s for s in snapshots if selection.matches(s)), key=lambda s: (s.time, s.id))
    if latest is None:
        return chosen
    groups: dict[tuple[str, tuple[str, ...]], list[Snapshot]] = {}
    for snapshot in chosen:
        groups.setdefault((snapshot.host, tuple(sorted(snapshot.paths))), []).append(snapshot)
    kept = {s.id for group in groups.values() for s in group[-latest:]}
    return [s for s in chosen if s.id in kept]


def parse_time(text: str) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM[:SS]`` (local time unless an offset is given)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("T", " "))
    except ValueError:
        raise UsageError(f"time {text!r} is not in the form 'YYYY-MM-DD HH:MM[:SS]'") from None
    if value.tzinfo is None:
        value = value.astimezone()
    return value


def select_snapshot(
    snapshots: Iterable[Snapshot],
    ref: str | None,
    selection: SnapshotFilter = SnapshotFilter(),
    at: datetime | None = None,
) -> Snapshot:
    """Resolve an id, unique id prefix, ``latest``, or ``at`` (point in time)."""
    candidates = filter_snapshots(snapshots, selection)
    if at is not None:
        before = [s for s in candidates if s.time <= at]
        if not before:
            raise SnapshotNotFoundError(
                f"no snapshot at or before {at.isoformat(sep=' ', timespec='seconds')}"
            )
        return before[-1]
    if ref is None or ref == "latest":
        if not candidates:
            raise SnapshotNotFoundError("no snapshot found (is the repository empty?)")
        return candidates[-1]
    ref = ref.lower()
    matches = [s for s in candidates if s.id.startswith(ref)]
    if not matches:
        raise SnapshotNotFoundError(f"no snapshot with id {ref!r}; see 'keyark snapshots'")
    if len(matches) > 1:
        raise SnapshotNotFoundError(
            f"snapshot id prefix {ref!r} is ambiguous ({len(matches)} matches); give more digits"
        )
    return matches[0]


def now() -> datetime:
    return datetime.now(UTC).astimezone()
