"""A deterministic 1% change set, applied before backup #3 and reverted after a tool's run.

Every tool backs up the same corpus, so the change must be undone before the next tool
starts: each changed file gets one line appended (its size and content change; its mtime
becomes "now"), and :meth:`ChangeSet.revert` truncates it back and restores its
modification time to the nanosecond. The files are a seeded sample of the corpus's
regular files (sorted by path first), so every tool and every run changes the same ones.

Before changing anything, :meth:`ChangeSet.apply` writes a journal next to the corpus
(``<corpus>.changes.json``: each file's old size and times); :meth:`revert` removes it.
A run killed in between leaves the journal, and the next :class:`ChangeSet` of that
corpus undoes the change first, so the corpus always matches its manifest again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from pathlib import Path

from corpora import Manifest


class ChangeSet:
    """The files of a corpus that backup #3 sees changed."""

    def __init__(self, root: Path, manifest: Manifest, fraction: float, seed: int) -> None:
        files = sorted(k for k, v in manifest.items() if v.startswith("f:"))
        count = max(1, math.ceil(len(files) * fraction)) if files else 0
        self.root = root
        self.paths = sorted(random.Random(seed).sample(files, count))
        self.original = manifest
        self.journal = root.with_name(root.name + ".changes.json")
        self._saved: dict[str, tuple[int, int, int]] = {}  # size, atime_ns, mtime_ns
        if self.journal.exists():  # left by a killed run: undo it first
            saved = json.loads(self.journal.read_text())
            self._saved = {k: (v[0], v[1], v[2]) for k, v in saved.items()}
            self.revert()

    @staticmethod
    def line(rel: str) -> bytes:
        """The line appended to REL (distinct per file, so nothing dedups it away)."""
        return f"\n# keyark benchmark change of {rel}\n".encode()

    def apply(self) -> None:
        """Append one line to every file of the set (remembering how to undo it)."""
        for rel in self.paths:
            st = (self.root / rel).stat()
            self._saved[rel] = (st.st_size, st.st_atime_ns, st.st_mtime_ns)
        partial = self.journal.with_name(self.journal.name + ".partial")
        partial.write_text(json.dumps(self._saved))
        partial.replace(self.journal)
        for rel in self.paths:
            with (self.root / rel).open("ab") as handle:
                handle.write(self.line(rel))

    def revert(self) -> None:
        """Truncate every changed file to its old size and give it its old times back."""
        for rel, (size, atime_ns, mtime_ns) in self._saved.items():
            path = self.root / rel
            os.truncate(path, size)
            os.utime(path, ns=(atime_ns, mtime_ns))
        self._saved.clear()
        self.journal.unlink(missing_ok=True)

    def changed_manifest(self) -> Manifest:
        """The corpus manifest as it is while the change set is applied."""
        manifest = dict(self.original)
        for rel in self.paths:
            path = self.root / rel
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "blake2b").hexdigest()
            manifest[rel] = f"f:{path.stat().st_size}:{digest}"
        return manifest


def find_name(manifest: Manifest) -> str:
    """A file name the ``find`` step searches for: the base name of the middle file."""
    files = sorted(k for k, v in manifest.items() if v.startswith("f:"))
    return files[len(files) // 2].rsplit("/", 1)[-1] if files else "none"
