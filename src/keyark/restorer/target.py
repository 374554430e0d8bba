"""The restore target: refuse one that cannot become a directory, before anything is read.

A target that is a file, lies below a file, or cannot be created or written (a
read-only file system, ``/proc``, no permission) is one
:class:`~keyark.errors.RestoreTargetError` saying so, never an ``OSError``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from keyark.errors import Hint, RestoreTargetError


def target_error(target: str, problem: str) -> RestoreTargetError:
    """The error for a restore target that cannot be used, with what is wrong."""
    return RestoreTargetError(f"restore target {target}: {problem}", hint=Hint.RESTORE_TARGET)


def _reason(error: OSError) -> str:
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        return "it or a directory above it is a file, not a directory"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.EROFS:
        return "the file system is read-only"
    return (error.strerror or str(error)).lower()


def check_target(target: str) -> None:
    """Refuse a target that exists as a non-directory or whose nearest existing
    ancestor is not a writable directory (nothing is created here)."""
    path = os.path.abspath(target)
    probe = path
    while True:
        try:
            exists_as_dir = os.path.isdir(probe)
            os.stat(probe)
        except FileNotFoundError:
            parent = os.path.dirname(probe)
            if parent == probe:
                return
            probe = parent
            continue
        except OSError as error:
            raise target_error(target, _reason(error)) from None
        break
    if not exists_as_dir:
        if probe == path:
            raise target_error(target, "it is a file, not a directory")
        raise target_error(target, f"{probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "it is" if probe == path else f"{probe} is"
        raise target_error(target, f"{what} not writable")


@contextmanager
def target_errors(target: str) -> Iterator[None]:
    """Turn an ``OSError`` creating or opening the target into :class:`RestoreTargetError`."""
    try:
        yield
    except OSError as error:
        raise target_error(target, f"cannot create or open it: {_reason(error)}") from None
