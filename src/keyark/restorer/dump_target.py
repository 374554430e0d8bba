"""The file ``dump`` writes to instead of a stream (restic's ``dump --target``).

The content goes to a temporary file beside the target, created 0600, and replaces
the target only once complete (as restic, an existing file is overwritten): a dump
that fails or is cancelled leaves the target as it was and no partial file behind.
The finished file gets the dump's mode, never wider than the dumped file's own.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from keyark.errors import UsageError


class TargetFile:
    """A file written under a temporary name and renamed over ``path`` by :meth:`commit`."""

    def __init__(self, path: str) -> None:
        """Create the temporary file; UsageError (one line) if ``path`` cannot be a file."""
        self.path = Path(path)
        if self.path.is_dir():
            raise UsageError(f"{path} is a directory; the dump target must be a file name")
        parent = self.path.absolute().parent
        if not parent.is_dir():
            raise UsageError(f"cannot write {path}: the directory {parent} does not exist")
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=parent)
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
        self._temp = Path(temp)
        self.stream: BinaryIO = os.fdopen(fd, "wb")

    def commit(self, mode: int) -> None:
        """Make the written file durable, give it ``mode`` and put it in place."""
        self.stream.flush()
        os.fsync(self.stream.fileno())
        os.fchmod(self.stream.fileno(), mode)
        self.stream.close()
        try:
            os.replace(self._temp, self.path)
        except OSError as error:
            self.discard()
            raise UsageError(f"cannot write {self.path}: {error.strerror or error}") from None

    def discard(self) -> None:
        """Drop the temporary file (after a failure); the target stays as it was."""
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()


__all__ = ["TargetFile"]
