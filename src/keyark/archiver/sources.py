"""Backup sources: absolute paths, the virtual tree above them, and excludes."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from keyark.errors import UsageError


@dataclass
class VirtualDir:
    """A directory above the sources: only the named children are included."""

    path: str
    children: dict[str, VirtualDir | str] = field(default_factory=dict)


def normalize_sources(paths: list[str]) -> list[str]:
    """Absolute, normalised, de-duplicated source paths (a path inside another is dropped)."""
    if not paths:
        raise UsageError("no source paths given")
    absolute = sorted({os.path.normpath(os.path.abspath(p)) for p in paths})
    kept: list[str] = []
    for path in absolute:
        if any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        kept.append(path)
    return kept


def build_virtual_root(sources: list[str]) -> VirtualDir:
    """The tree of directories from ``/`` down to each source."""
    root = VirtualDir("/")
    for source in sources:
        parts = [p for p in source.split("/") if p]
        node = root
        for depth, part in enumerate(parts):
            if depth == len(parts) - 1:
                node.children[part] = source
                break
            child = node.children.get(part)
            if not isinstance(child, VirtualDir):
                child = VirtualDir("/" + "/".join(parts[: depth + 1]))
                node.children[part] = child
            node = child
    return root


class ExcludeMatcher:
    """restic-style excludes: a pattern with ``/`` matches the full path, else any name."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [p.rstrip("/") for p in patterns if p.strip()]
        self._full = [p for p in self.patterns if "/" in p]
        self._name = [p for p in self.patterns if "/" not in p]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        if any(fnmatch.fnmatchcase(name, p) for p in self._name):
            return True
        return any(fnmatch.fnmatchcase(path, p) for p in self._full)


def read_exclude_file(path: str) -> list[str]:
    """Patterns from a file: one a line, ``#`` comments and blank lines ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise UsageError(f"cannot read exclude file {path}: {error.strerror}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
