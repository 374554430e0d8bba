"""Hostile tar members for the import tests: each archive holds a harmless member first.

A reader that skipped the safety check would return the harmless member and store the
archive; the tests assert the refusal, so they fail against such a reader.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

#: Turns a fresh member into a hostile one.
Change = Callable[[tarfile.TarInfo], None]


def hostile_tar(change: Change, mode: str = "w:gz") -> bytes:
    """A tar (``mode``: ``w`` or ``w:gz``) of ``keys/ok.key`` then the member ``change`` makes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:  # type: ignore[call-overload]
        harmless = tarfile.TarInfo("keys/ok.key")
        harmless.size = 2
        tar.addfile(harmless, io.BytesIO(b"ok"))
        hostile = tarfile.TarInfo("keys/x")
        change(hostile)
        tar.addfile(hostile, io.BytesIO(b"evil") if hostile.isreg() else None)
    return out.getvalue()


def absolute(info: tarfile.TarInfo) -> None:
    """An absolute path."""
    info.name, info.size = "/etc/cron.d/keyark-evil", 4


def dotdot(info: tarfile.TarInfo) -> None:
    """A path above the archive's tree."""
    info.name, info.size = "../x", 4


def inner_dotdot(info: tarfile.TarInfo) -> None:
    """A path that climbs out through ``..`` in its middle."""
    info.name, info.size = "keys/../../evil", 4


def symlink_out(info: tarfile.TarInfo) -> None:
    """A symlink out of the tree."""
    info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/shadow"


def symlink_absolute(info: tarfile.TarInfo) -> None:
    """A symlink to an absolute path."""
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"


def hardlink_out(info: tarfile.TarInfo) -> None:
    """A hard link to a file outside the tree."""
    info.type, info.linkname = tarfile.LNKTYPE, "../etc/shadow"


def device(info: tarfile.TarInfo) -> None:
    """A block device node."""
    info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, 8, 0


def fifo(info: tarfile.TarInfo) -> None:
    """A FIFO."""
    info.type = tarfile.FIFOTYPE


#: The import's refusal of each (``refusing member NAME: ...``), exactly.
REFUSALS: dict[str, tuple[Change, str]] = {
    "absolute": (absolute, "refusing member '/etc/cron.d/keyark-evil': its path is absolute"),
    "dotdot": (dotdot, "refusing member '../x': its path leaves the archive's tree (..)"),
    "inner dotdot": (
        inner_dotdot,
        "refusing member 'keys/../../evil': its path leaves the archive's tree (..)",
    ),
    "symlink out": (symlink_out, "refusing member 'keys/x': it links out of the archive's tree"),
    "absolute symlink": (
        symlink_absolute,
        "refusing member 'keys/x': it links to an absolute path",
    ),
    "hard link out": (hardlink_out, "refusing member 'keys/x': it links out of the archive's tree"),
    "device": (device, "refusing member 'keys/x': it is a device file or FIFO"),
    "fifo": (fifo, "refusing member 'keys/x': it is a device file or FIFO"),
}
