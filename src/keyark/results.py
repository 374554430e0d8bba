"""Typed options and results of the core operations, shared by every face."""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field
from typing import Any, ClassVar


class Summary:
    """Mixin for a result dataclass: ``to_dict()`` is its fields (nested ones too), any
    :meth:`derived` values, and ``message_type`` (what ``--json`` consumers key on)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    message_type: ClassVar[str] = "summary"

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {"message_type": self.message_type, **asdict(self), **self.derived()}

    def derived(self) -> dict[str, Any]:
        """Values computed from the fields (ratios, totals); none by default."""
        return {}


@dataclass
class BackupSummary:
    """What a backup did (``backup --json`` prints this).

    :meth:`to_dict` is restic's ``summary`` message plus keyark's own fields: restic's
    names (``files_unmodified``, ``data_added``, ``total_files_processed``,
    ``total_duration`` ...) are given alongside keyark's (``files_unchanged``,
    ``bytes_added``, ``duration_seconds`` ...), which mean the same.
    """

    snapshot_id: str = ""
    parent: str | None = None
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    dirs_new: int = 0
    dirs_changed: int = 0
    dirs_unchanged: int = 0
    data_blobs: int = 0
    tree_blobs: int = 0
    bytes_processed: int = 0
    bytes_read: int = 0
    #: What the new blobs take in storage (compressed and sealed; a dry run estimates it).
    bytes_added: int = 0
    #: The plain (uncompressed) size of the new blobs, restic's ``data_added``.
    data_added: int = 0
    #: What the new packs took in storage, headers included (nothing in a dry run).
    bytes_stored: int = 0
    duration_seconds: float = 0.0
    dry_run: bool = False
    #: When the backup started and ended (ISO 8601 with the zone).
    backup_start: str = ""
    backup_end: str = ""
    #: Sources that could not be read (each makes the exit code 3).
    errors: list[str] = field(default_factory=list)
    #: Things skipped on purpose (sockets, devices) and other notes.
    warnings: list[str] = field(default_factory=list)

    @property
    def total_files(self) -> int:
        return self.files_new + self.files_changed + self.files_unchanged

    @property
    def complete(self) -> bool:
        """False when some sources could not be read (exit code 3)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """restic's ``summary`` message, keyark's fields added."""
        data: dict[str, Any] = {"message_type": "summary"}
        data.update(
            files_new=self.files_new,
            files_changed=self.files_changed,
            files_unmodified=self.files_unchanged,
            dirs_new=self.dirs_new,
            dirs_changed=self.dirs_changed,
            dirs_unmodified=self.dirs_unchanged,
            data_blobs=self.data_blobs,
            tree_blobs=self.tree_blobs,
            data_added=self.data_added,
            data_added_packed=self.bytes_added,
            total_files_processed=self.total_files,
            total_bytes_processed=self.bytes_processed,
            total_duration=self.duration_seconds,
        )
        data.update(asdict(self))
        data["total_files"] = self.total_files
        return data


@dataclass
class RestoreSummary:
    """What a restore did (``restore --json`` prints this)."""

    snapshot_id: str = ""
    target: str = ""
    files_restored: int = 0
    files_skipped: int = 0
    dirs_restored: int = 0
    symlinks_restored: int = 0
    bytes_restored: int = 0
    #: The size of the existing files left as they were (``files_skipped``).
    bytes_skipped: int = 0
    files_verified: int = 0
    #: ``--delete``: entries of the target the snapshot lacks, removed (a dry run: to remove).
    files_deleted: int = 0
    dirs_deleted: int = 0
    deleted: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    dry_run: bool = False
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: The snapshot restored, as ``snapshots --json`` shows it.
    snapshot: dict[str, Any] = field(default_factory=dict)
    #: The restore point saved first (its snapshot id), None when none was needed or wanted.
    restore_point: str | None = None
    #: The restore failed, was interrupted or did not verify, and the target was put
    #: back to the restore point.
    rolled_back: bool = False

    def record_deleted(self, shown: str, is_dir: bool) -> None:
        """Count one entry ``--delete`` removed (or a dry run would remove)."""
        self.deleted.append(shown)
        if is_dir:
            self.dirs_deleted += 1
        else:
            self.files_deleted += 1

    def to_dict(self) -> dict[str, Any]:
        """restic's restore ``summary`` message (``seconds_elapsed``, ``total_files``,
        ``files_restored``, ``files_skipped``, ``files_deleted``, ``total_bytes``,
        ``bytes_restored``, ``bytes_skipped``), keyark's fields added."""
        data: dict[str, Any] = {
            "message_type": "summary",
            "seconds_elapsed": int(self.duration_seconds),
            "total_files": self.files_restored + self.files_skipped,
            "total_bytes": self.bytes_restored + self.bytes_skipped,
        }
        data.update(asdict(self))
        return data


@dataclass
class Problem:
    """One thing ``check`` found wrong, with what it affects."""

    kind: str
    object: str
    message: str
    snapshots: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    harmless: bool = False
    #: The pack is damaged and ``repair packs`` salvages it (``object`` names the pack).
    repair_pack: bool = False


@dataclass
class CheckSummary(Summary):
    """What ``check`` verified and what it found."""

    snapshots: int = 0
    trees: int = 0
    blobs: int = 0
    packs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    duration_seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(not p.harmless for p in self.problems)

    @property
    def damaged_packs(self) -> list[str]:
        """Ids of the packs to repair (salvaging their readable blobs and unindexing
        them, so the next backup stores the lost content again)."""
        found = {p.object.rsplit("/", 1)[-1] for p in self.problems if p.repair_pack}
        return sorted(found)

    def derived(self) -> dict[str, Any]:
        return {"ok": self.ok, "damaged_packs": self.damaged_packs}
