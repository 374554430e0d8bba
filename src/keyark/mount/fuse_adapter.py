"""The FUSE side of the mount: :mod:`mfusepy` (libfuse 3, else 2, through ctypes) calling
a :class:`~keyark.mount.filesystem.SnapshotFilesystem`.

This is the one module that imports :mod:`mfusepy`; it is loaded only when a mount
starts. libfuse 3 is preferred when both are installed (Debian's ``fuse3``).
"""

from __future__ import annotations

import ctypes.util
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from keyark.errors import Hint, MissingExtraError, MountError
from keyark.mount.filesystem import SnapshotFilesystem

#: What libfuse's ``fuse_main`` returns when its loop ended on a signal (libfuse 3: 7
#: single-threaded, 8 multi-threaded; libfuse 2 returns 0).
LOOP_ENDED = (7, 8)


def load_fuse() -> ModuleType:
    """:mod:`mfusepy`, bound to libfuse 3 when it is installed (else libfuse 2).

    MissingExtraError without mfusepy, MountError without libfuse.
    """
    chosen = {"FUSE_LIBRARY_PATH", "FUSE_LIBRARY_NAME"} & set(os.environ)
    library = None if chosen else ctypes.util.find_library("fuse3")
    if library is not None:  # mfusepy reads its choice from the environment, once
        os.environ["FUSE_LIBRARY_NAME"] = "fuse3"
    try:
        return importlib.import_module("mfusepy")
    except ModuleNotFoundError:
        raise MissingExtraError(
            "mounting needs an optional dependency (mfusepy): pip install 'keyark[recovery]'"
        ) from None
    except (OSError, AttributeError) as error:
        raise MountError(f"libfuse cannot be loaded: {error}", hint=Hint.FUSE) from None
    finally:
        if library is not None:
            os.environ.pop("FUSE_LIBRARY_NAME", None)


def fuse_major(fuse: ModuleType) -> int:
    """The libfuse major version mfusepy is bound to (2 or 3)."""
    return int(fuse.fuse_version_major)


class FuseOperations:
    """What libfuse calls (mfusepy's operation names), answered by the filesystem.

    Errors are :class:`OSError` with an errno (mfusepy returns ``-errno``); ``init``
    calls ``on_mounted`` once the kernel has sent its first request.
    """

    #: Times are integers in ns (mfusepy's ``use_ns``).
    use_ns = True

    def __init__(self, filesystem: SnapshotFilesystem, on_mounted: Callable[[], None]) -> None:
        self.fs = filesystem
        self._on_mounted = on_mounted

    def init(self, path: str) -> None:
        """The mount is up (the kernel sent ``FUSE_INIT``)."""
        self._on_mounted()

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        """``stat`` of the path."""
        return self.fs.attributes(path)

    def readdir(self, path: str, fh: int) -> list[str]:
        """The names in the directory."""
        return self.fs.listing(path)

    def readlink(self, path: str) -> str:
        """The target of the link."""
        return self.fs.read_link(path)

    def listxattr(self, path: str) -> list[str]:
        """The names of the extended attributes."""
        return self.fs.xattr_names(path)

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        """The value of an extended attribute."""
        return self.fs.xattr(path, name)

    def open(self, path: str, flags: int) -> int:
        """A handle of the file, opened for reading."""
        return self.fs.open(path, flags)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        """Bytes of the open file."""
        return self.fs.read(fh, size, offset, path)

    def release(self, path: str, fh: int) -> int:
        """Close the file."""
        self.fs.release(fh)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        """A read-only filesystem with no free space."""
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 4096}


def run_fuse(
    fuse: ModuleType, operations: FuseOperations, mountpoint: str, options: dict[str, Any]
) -> None:
    """Serve until unmounted (blocks). MountError if libfuse could not mount or failed."""
    try:
        fuse.FUSE(operations, mountpoint, foreground=True, nothreads=True, **options)
    except RuntimeError as error:
        code = error.args[0] if error.args else None
        if code in LOOP_ENDED:  # libfuse 3: the loop ended on a signal and unmounted
            return
        raise MountError(f"FUSE could not mount {mountpoint} (libfuse returned {code})") from None


__all__ = ["FuseOperations", "fuse_major", "load_fuse", "run_fuse"]
