"""Typed options and results of the core operations, shared by every face."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class BackupSummary:
    """What a backup did (``backup --json`` prints this)."""

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
    bytes_added: int = 0
    bytes_stored: int = 0
    duration_seconds: float = 0.0
    dry_run: bool = False
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
        data = asdict(self)
        data["total_files"] = self.total_files
        data["message_type"] = "summary"
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
    files_verified: int = 0
    duration_seconds: float = 0.0
    dry_run: bool = False
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: The snapshot restored, as ``snapshots --json`` shows it.
    snapshot: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["message_type"] = "summary"
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


@dataclass
class CheckSummary:
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["message_type"] = "summary"
        return data
