"""What a backup reads besides its path arguments: file lists, standard input, a command.

File lists follow restic: ``files_from`` has one glob a line (blank lines and ``#``
comments skipped, surrounding spaces trimmed, each glob expanded; one matching
nothing is reported), ``files_from_verbatim`` one path a line taken as is (blank
lines skipped), ``files_from_raw`` paths each ended by a NUL byte. ``-`` names
standard input.

A stream (standard input, or a command's standard output) is backed up as one file.
A command that cannot start or exits with a non-zero status fails the backup: what
it wrote is not kept as a snapshot.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO, cast

from keyark.errors import SourceError, UsageError
from keyark.redaction import data_source_environment


def _read(path: str) -> bytes:
    """The bytes of list file ``path`` (``-``: standard input)."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as error:
        raise UsageError(f"cannot read file list {path}: {error.strerror}") from None


def _lines(data: bytes) -> list[str]:
    """Lines as restic's scanner cuts them: at ``\\n``, a trailing ``\\r`` dropped."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [os.fsdecode(line.removesuffix(b"\r")) for line in lines]


def files_from(paths: Sequence[str], warn: Callable[[str, str], None]) -> list[str]:
    """The paths the glob lists ``paths`` name; ``warn(message, pattern)`` hears of a
    glob that matches nothing."""
    found: list[str] = []
    for path in paths:
        for line in _lines(_read(path)):
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            matches = sorted(glob.glob(pattern, include_hidden=True))
            if not matches:
                warn(f"pattern {pattern!r} in {path} matches no file; skipped", pattern)
            found.extend(matches)
    return found


def files_from_verbatim(paths: Sequence[str]) -> list[str]:
    """The paths listed one a line in ``paths`` (blank lines skipped)."""
    return [line for path in paths for line in _lines(_read(path)) if line]


def files_from_raw(paths: Sequence[str]) -> list[str]:
    """The NUL-terminated paths in ``paths``."""
    found: list[str] = []
    for path in paths:
        data = _read(path)
        if not data:
            continue
        if not data.endswith(b"\0"):
            raise UsageError(f"file list {path}: the last name is not ended by a NUL byte")
        names = data[:-1].split(b"\0")
        if any(not name for name in names):
            raise UsageError(f"file list {path}: an empty name")
        found.extend(os.fsdecode(name) for name in names)
    return found


def check_stream_name(name: str) -> str:
    """The name a stream is stored under (one path component, no ``/``)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise UsageError(f"the name for standard input must be a plain file name, not {name!r}")
    return name


@contextmanager
def open_stream(command: Sequence[str]) -> Iterator[BinaryIO]:
    """Standard input, or the standard output of ``command`` (run without a shell).

    When the block is done the command must have exited with status 0, else
    :class:`SourceError`; a block that fails kills the command.
    """
    if not command:
        yield sys.stdin.buffer
        return
    program = command[0]
    try:
        process = subprocess.Popen(
            list(command), stdout=subprocess.PIPE, env=data_source_environment()
        )
    except OSError as error:
        raise SourceError(f"cannot run {program}: {error.strerror}; nothing was saved") from None
    output = cast(BinaryIO, process.stdout)
    try:
        yield output
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        output.close()
    status = process.wait()
    if status != 0:
        from keyark.archiver.commands import exit_description

        how = exit_description(status)
        raise SourceError(f"{program} {how}; its output was not saved as a snapshot")


__all__ = [
    "check_stream_name",
    "files_from",
    "files_from_raw",
    "files_from_verbatim",
    "open_stream",
]
