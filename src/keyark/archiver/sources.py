"""Backup sources: absolute paths, the virtual tree above them, and excludes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from keyark.errors import UsageError
from keyark.patterns import PatternSet, read_pattern_files


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


def virtual_dir(root: VirtualDir, parts: Sequence[str]) -> VirtualDir:
    """The virtual directory at ``parts`` below ``root`` (``/``), made on the way down
    (a source named on the way is replaced by a virtual directory)."""
    node = root
    for depth, part in enumerate(parts):
        child = node.children.get(part)
        if not isinstance(child, VirtualDir):
            child = VirtualDir("/" + "/".join(parts[: depth + 1]))
            node.children[part] = child
        node = child
    return node


def build_virtual_root(sources: list[str]) -> VirtualDir:
    """The tree of directories from ``/`` down to each source."""
    root = VirtualDir("/")
    for source in sources:
        parts = [p for p in source.split("/") if p]
        if parts:
            virtual_dir(root, parts[:-1]).children[parts[-1]] = source
    return root


class ExcludeMatcher:
    """Backup excludes with restic's pattern rules (:class:`keyark.patterns.PatternSet`)."""

    def __init__(self, patterns: Sequence[str], insensitive: Sequence[str] = ()) -> None:
        self.patterns = [p for p in patterns if p.strip()]
        self.insensitive = [p for p in insensitive if p.strip()]
        self._set = PatternSet(self.patterns, insensitive=self.insensitive)
        self._any = bool(self._set)

    @classmethod
    def from_options(
        cls,
        excludes: Sequence[str],
        exclude_files: Sequence[str] = (),
        iexcludes: Sequence[str] = (),
        iexclude_files: Sequence[str] = (),
    ) -> ExcludeMatcher:
        """The patterns given inline plus those read from pattern files."""
        return cls(
            [*excludes, *read_exclude_file(exclude_files)],
            [*iexcludes, *read_exclude_file(iexclude_files)],
        )

    def __bool__(self) -> bool:
        return bool(self._set)

    def excluded(self, path: str) -> bool:
        """True when ``path`` (absolute) or a directory above it matches a pattern."""
        return self._any and self._set.matches(path)


def read_exclude_file(paths: str | Sequence[str]) -> list[str]:
    """Patterns from files: one a line, ``#`` comments and blank lines ignored."""
    return read_pattern_files([paths] if isinstance(paths, str) else paths)
