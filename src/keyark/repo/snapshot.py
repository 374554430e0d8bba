"""Snapshots: one per backup, and how users pick them (id prefix, latest, --at)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack

from keyark.crypto.agents import FULL_KEY, TRUSTED
from keyark.errors import FormatError, Hint, SnapshotNotFoundError, UsageError
from keyark.repo.fields import (
    ID_LENGTH,
    UINT32_MAX,
    Fields,
    checker,
    malformed,
    require_bytes,
    require_hex,
    require_str,
    unpack_msgpack,
)

SNAPSHOT_PREFIX = "snapshots/"
MAX_TEXT = 4096
MAX_PATH = 4096
MAX_ITEMS = 100_000
#: The largest encoded (compressed) inventory a snapshot may carry.
MAX_INVENTORY = 16 * 1024 * 1024
_MAX_DEPTH = 8


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
    #: The key and certificate inventory recorded with the backup, encoded (see
    #: :mod:`keyark.repo.inventory`); None when none was recorded. Sealed and, for an
    #: agent, signed with the rest of the document. Not kept by the local catalog.
    inventory: bytes | None = field(default=None, repr=False)
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
        if self.inventory is not None:  # absent otherwise: older documents keep their bytes
            document["inventory"] = self.inventory
        return bytes(msgpack.packb(document, use_bin_type=True))

    @classmethod
    def from_bytes(cls, snapshot_id: str, data: bytes, key_id: str = "") -> Snapshot:
        """Parse a snapshot document, checking the type and range of every field.

        A bad field is a FormatError naming the snapshot (never a TypeError).
        """
        what = f"snapshot {snapshot_id[:8]}"
        fields = Fields(unpack_msgpack(data, what), what)
        text = checker(require_str, max_len=MAX_TEXT)
        path = checker(require_str, max_len=MAX_PATH)
        return cls(
            id=snapshot_id,
            time=_parse_stored_time(fields.get_str("time", max_len=64), what),
            host=fields.get_str("host", max_len=MAX_TEXT),
            username=fields.get_str("username", "", max_len=MAX_TEXT),
            uid=fields.get_int("uid", 0, UINT32_MAX, default=0),
            gid=fields.get_int("gid", 0, UINT32_MAX, default=0),
            paths=fields.get_list_of("paths", path, max_items=MAX_ITEMS),
            tags=fields.get_list_of("tags", text, [], max_items=MAX_ITEMS),
            tree=fields.get_id("tree"),
            parent=fields.get_optional("parent", checker(require_hex, ID_LENGTH)),
            excludes=fields.get_list_of("excludes", path, [], max_items=MAX_ITEMS),
            summary=_summary(fields.get_map("summary", {}, max_items=MAX_ITEMS), what),
            program_version=fields.get_str("program_version", "", max_len=MAX_TEXT),
            key_id=key_id,
            extra=_extra(fields.get_map("extra", {}, max_items=MAX_ITEMS), what),
            inventory=fields.get_optional(
                "inventory", checker(require_bytes, max_len=MAX_INVENTORY)
            ),
        )

    def describe(self) -> dict[str, Any]:
        """The JSON view used by ``snapshots --json`` and the API."""
        return {
            "id": self.id,
            "short_id": self.short_id,
            "time": self.time.isoformat(),
            "host": self.host,
            "hostname": self.host,  # restic's name for it
            "username": self.username,
            "paths": self.paths,
            "tags": self.tags,
            "tree": self.tree.hex(),
            "parent": self.parent,
            "summary": self.summary,
            "key_id": self.key_id,
            **{key: self.extra[key] for key in ("agent", "trust", "original") if key in self.extra},
        }


def _parse_stored_time(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FormatError(
            f"{what} field 'time' is not a valid time: the object is malformed"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not 1900 <= value.year <= 9000:
        raise FormatError(f"{what} field 'time' is out of range: the object is malformed")
    return value


def _summary(document: dict[Any, Any], what: str) -> dict[str, Any]:
    """A summary maps names to numbers, strings, booleans or null."""
    summary: dict[str, Any] = {}
    for key, value in document.items():
        name = require_str(key, f"{what} summary key", max_len=MAX_TEXT)
        if value is not None and not isinstance(value, bool | int | float | str):
            raise malformed(f"{what} summary field {name!r}", "a number or string", value)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise malformed(f"{what} summary field {name!r}", "a 64-bit number", value)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise FormatError(f"{what} summary field {name!r} is too long: the object is malformed")
        summary[name] = value
    return summary


def _extra(document: dict[Any, Any], what: str) -> dict[str, Any]:
    """Extension fields: string keys, JSON-like values (no bytes), bounded depth."""
    return {
        require_str(key, f"{what} extra key", max_len=MAX_TEXT): _plain(value, what, 0)
        for key, value in document.items()
    }


def _plain(value: Any, what: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise FormatError(f"{what} field 'extra' is nested too deeply: the object is malformed")
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise malformed(f"{what} field 'extra'", "64-bit numbers", value)
        return value
    if isinstance(value, list):
        return [_plain(item, what, depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            require_str(key, f"{what} extra key", max_len=MAX_TEXT): _plain(item, what, depth + 1)
            for key, item in value.items()
        }
    raise malformed(f"{what} field 'extra'", "plain values (no bytes)", value)


@dataclass(frozen=True)
class SnapshotFilter:
    """``--host``, ``--tag`` and ``--path`` filters (each a set of alternatives)."""

    hosts: Sequence[str] = ()
    tags: Sequence[str] = ()
    paths: Sequence[str] = ()

    def __bool__(self) -> bool:
        """Whether any filter is given."""
        return bool(self.hosts or self.tags or self.paths)

    def describe(self) -> str:
        """``host h1, tags a,b, paths /x`` (what the filter asks for, for messages)."""
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (("host", self.hosts), ("tags", self.tags), ("paths", self.paths))
            if values
        ]
        return "; ".join(parts)

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


def trust_label(snapshot: Snapshot) -> str:
    """The trust computed for ``snapshot`` (``extra["trust"]``, set when snapshots are
    listed for use); without it, the recorded signature check, else ``full-key``."""
    for key in ("trust", "signature"):
        value = snapshot.extra.get(key)
        if isinstance(value, str):
            return value
    return FULL_KEY


def is_trusted(snapshot: Snapshot) -> bool:
    """Whether ``snapshot``'s trust is ``full-key`` or ``signed`` (else it is flagged)."""
    return trust_label(snapshot) in TRUSTED


#: The tag of a restore point (what a restore saved before overwriting): ``latest`` and
#: ``at`` pass over restore points unless the selection asks for this tag.
RESTORE_POINT_TAG = "restore-point"


def select_snapshot(
    snapshots: Iterable[Snapshot],
    ref: str | None,
    selection: SnapshotFilter = SnapshotFilter(),
    at: datetime | None = None,
    warn: Callable[[str], None] | None = None,
) -> Snapshot:
    """Resolve an id, unique id prefix, ``latest``, or ``at`` (point in time).

    ``selection`` (host, tags, paths) narrows what they pick from (an id that the
    filter excludes is not found, and the error says so). ``latest`` and ``at`` pick
    among trusted snapshots only and ``warn`` how many flagged ones they skipped; they
    never pick an original that a trusted repaired snapshot (``extra["repaired_from"]``)
    replaces, nor a restore point (tagged :data:`RESTORE_POINT_TAG`) unless the
    selection's tags ask for one. An explicit id may name a flagged snapshot
    (with a warning) or a damaged original.
    """
    snapshots = list(snapshots)
    candidates = filter_snapshots(snapshots, selection)
    if at is not None or ref is None or ref == "latest":
        if at is not None:
            candidates = [s for s in candidates if s.time <= at]
        # A repaired snapshot replaces its damaged original (``repair snapshots``).
        replaced = {s.extra.get("repaired_from") for s in candidates if is_trusted(s)}
        candidates = [s for s in candidates if s.id not in replaced]
        if not any(RESTORE_POINT_TAG in tags.split(",") for tags in selection.tags):
            candidates = [s for s in candidates if RESTORE_POINT_TAG not in s.tags]
        trusted = [s for s in candidates if is_trusted(s)]
        skipped = len(candidates) - len(trusted)
        note = (
            f"{skipped} flagged snapshot{'s' if skipped != 1 else ''} skipped "
            "(list the snapshots to see them; name one by id to use it anyway)"
            if skipped
            else ""
        )
        if not trusted:
            where = (
                f"at or before {at.isoformat(sep=' ', timespec='seconds')}"
                if at is not None
                else ""
                if selection
                else "(is the repository empty?)"
            )
            if selection:
                where = f"{where} matching {selection.describe()}".lstrip()
            raise SnapshotNotFoundError(
                f"no trusted snapshot found {where}" + (f"; {note}" if note else "")
            )
        if note and warn is not None:
            warn(note)
        return trusted[-1]
    ref = ref.lower()
    matches = [s for s in candidates if s.id.startswith(ref)]
    if not matches:
        excluded = selection and any(s.id.startswith(ref) for s in snapshots)
        where = f" matching {selection.describe()}" if excluded else ""
        raise SnapshotNotFoundError(f"no snapshot with id {ref!r}{where}", hint=Hint.SNAPSHOTS)
    if len(matches) > 1:
        raise SnapshotNotFoundError(
            f"snapshot id prefix {ref!r} is ambiguous ({len(matches)} matches); give more digits"
        )
    chosen = matches[0]
    if not is_trusted(chosen) and warn is not None:
        warn(f"snapshot {chosen.short_id} is flagged ({trust_label(chosen)}): handle with care")
    return chosen


def now() -> datetime:
    return datetime.now(UTC).astimezone()
