"""What a restore drill found: the snapshot, the sample, the verification, the live
comparison and the time it took."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: The most problem lines a result keeps (a badly damaged snapshot names the first ones).
MAX_PROBLEMS = 100


@dataclass
class LiveComparison:
    """The spot check against the live source: each sampled file whose source is
    readable and unchanged since the snapshot (same size, mtime and ctime) is compared
    byte for byte; the others are skipped (``changed`` since the snapshot, or gone or
    unreadable)."""

    compared: int = 0
    matched: int = 0
    differed: int = 0
    #: Files whose live source changed since the snapshot (not a drill failure).
    changed: int = 0
    #: Files whose live source is missing, unreadable or not a regular file.
    skipped: int = 0
    #: The snapshot paths that differ although their source looks unchanged.
    differences: list[str] = field(default_factory=list)
    #: The snapshot paths that changed since the snapshot (the first ones).
    changed_paths: list[str] = field(default_factory=list)


@dataclass
class DrillResult:
    """A drill's outcome (``drill --json`` prints :meth:`to_dict`)."""

    snapshot_id: str = ""
    #: The run-history name the drill was recorded under (``drill:<job or repository>``).
    subject: str = ""
    #: ``full`` or the sample share (``30%``).
    sample: str = "full"
    files_total: int = 0
    files_sampled: int = 0
    files_restored: int = 0
    files_verified: int = 0
    bytes_restored: int = 0
    #: Seconds from opening the repository to the last verified byte (the measured
    #: restore time; the live comparison is not counted).
    duration_seconds: float = 0.0
    #: Of which restoring and verifying the files took.
    restore_seconds: float = 0.0
    #: The whole snapshot's restore time, extrapolated from the sample by size.
    estimated_full_seconds: float = 0.0
    live: LiveComparison = field(default_factory=LiveComparison)
    #: What failed: ``path: reason``, the damaged or differing files named.
    problems: list[str] = field(default_factory=list)
    #: The snapshot paths that could not be restored or verified.
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No file failed to restore or verify, and no unchanged source differs."""
        return not self.problems and not self.failed and not self.live.differed

    def problem(self, text: str) -> None:
        """Keep one problem line (at most :data:`MAX_PROBLEMS`)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def first_problem(self) -> str:
        """The first problem, for one-line reports (empty when ok)."""
        if self.problems:
            return self.problems[0]
        if self.live.differences:
            return f"{self.live.differences[0]}: differs from its unchanged live source"
        return ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, ``ok`` included."""
        data = asdict(self)
        data["ok"] = self.ok
        return data


__all__ = ["MAX_PROBLEMS", "DrillResult", "LiveComparison"]
