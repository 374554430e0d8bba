"""What the user marked in a snapshot, as the restore's include patterns."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The characters restic's patterns give a meaning (escaped with ``\\`` in a literal name).
_SPECIAL = "\\[]*?"


def literal_pattern(path: str) -> str:
    """An anchored pattern that matches exactly ``path`` (and, for a directory, everything
    below it): every pattern character in the names escaped."""
    escaped = "".join(f"\\{char}" if char in _SPECIAL else char for char in path)
    return escaped if escaped.startswith("/") else "/" + escaped


@dataclass
class Marks:
    """The marked paths of one snapshot (absolute, as ``ls`` shows them)."""

    paths: set[str] = field(default_factory=set)

    def toggle(self, path: str) -> bool:
        """Mark ``path``, or unmark it when marked; whether it is marked now."""
        if path in self.paths:
            self.paths.discard(path)
            return False
        self.paths.add(path)
        return True

    def __contains__(self, path: object) -> bool:
        return path in self.paths

    def __len__(self) -> int:
        return len(self.paths)

    def covered(self, path: str) -> bool:
        """Whether ``path`` is marked itself or lies below a marked directory."""
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.paths)

    def includes(self) -> list[str]:
        """The include patterns of a restore of exactly the marked entries (a marked
        directory with all it holds); a path below another marked one is left out."""
        top = sorted(p for p in self.paths if not any(p != m and _below(p, m) for m in self.paths))
        return [literal_pattern(p) for p in top]


def _below(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


__all__ = ["Marks", "literal_pattern"]
