"""Which source entries a backup passes over, besides the exclude patterns.

restic's rules: ``exclude_if_present`` (``NAME`` or ``NAME:HEADER``) keeps a
directory that holds such a tag file, and the tag file itself, but nothing else of
it; ``exclude_caches`` is the tag ``CACHEDIR.TAG`` with the signature of the Cache
Directory Tagging Specification; ``exclude_larger_than`` passes over regular files
above a size; ``one_file_system`` keeps a mount point as an empty directory and
nothing below it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from keyark.errors import UsageError

CACHEDIR_TAG = "CACHEDIR.TAG"
#: The first bytes of a valid ``CACHEDIR.TAG`` (https://bford.info/cachedir/).
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


def _never(path: str) -> bool:
    return False


@dataclass(frozen=True)
class TagFile:
    """A file whose presence excludes its directory's other entries."""

    name: str
    #: The bytes the file must start with (empty: any file of that name).
    header: bytes = b""

    @classmethod
    def parse(cls, spec: str) -> TagFile:
        """``NAME`` or ``NAME:HEADER`` (restic's ``--exclude-if-present`` syntax)."""
        name, _, header = spec.partition(":")
        if not name or "/" in name:
            raise UsageError(f"a tag file is named by a plain file name, not {spec!r}")
        return cls(name, header.encode())


@dataclass
class SourceFilter:
    """Every rule that passes over entries of the walk (thread-safe: read-only)."""

    #: The exclude patterns: True for a path (absolute) to pass over.
    excluded: Callable[[str], bool] = _never
    tags: Sequence[TagFile] = field(default_factory=tuple)
    larger_than: int | None = None
    one_file_system: bool = False

    @classmethod
    def build(
        cls,
        excluded: Callable[[str], bool] = _never,
        *,
        exclude_if_present: Sequence[str] = (),
        exclude_caches: bool = False,
        larger_than: int | None = None,
        one_file_system: bool = False,
    ) -> SourceFilter:
        """The filter of a backup's options."""
        tags = [TagFile.parse(spec) for spec in exclude_if_present]
        if exclude_caches:
            tags.append(TagFile(CACHEDIR_TAG, CACHEDIR_SIGNATURE))
        return cls(excluded, tuple(tags), larger_than, one_file_system)

    def skips(self, path: str, st: os.stat_result) -> bool:
        """Whether the listed entry ``path`` is passed over (patterns, size)."""
        return self.excluded(path) or self.too_large(st)

    def too_large(self, st: os.stat_result) -> bool:
        """Whether the listed entry ``st`` is a regular file above the size limit."""
        return (
            self.larger_than is not None
            and stat.S_ISREG(st.st_mode)
            and st.st_size > self.larger_than
        )

    def tagged(self, dir_fd: int, names: Sequence[str]) -> set[str] | None:
        """The tag files of the open directory ``dir_fd``, if it is excluded by one.

        None when no tag applies: every entry is kept. Otherwise only the returned
        names are (restic keeps the tag file itself).
        """
        present = set(names)
        found = {tag.name for tag in self.tags if tag.name in present and _has(dir_fd, tag)}
        return found or None

    def crosses_device(self, st: os.stat_result, device: int | None) -> bool:
        """Whether a directory ``st`` is a mount point a one-file-system walk stops at."""
        return self.one_file_system and device is not None and st.st_dev != device


def _has(dir_fd: int, tag: TagFile) -> bool:
    """Whether ``tag.name`` below ``dir_fd`` is a regular file starting with its header."""
    try:
        fd = os.open(tag.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        if not tag.header:
            return True
        return os.read(fd, len(tag.header)) == tag.header
    except OSError:
        return False
    finally:
        os.close(fd)


__all__ = ["CACHEDIR_SIGNATURE", "CACHEDIR_TAG", "SourceFilter", "TagFile"]
