"""The archive formats ``dump`` writes a directory as: tar (restic's default) and zip.

Both stream: entries are written as the tree walk yields them, a file's content blob
by blob, so neither an archive nor a whole file is held in memory. Names are the
snapshot's bytes exactly (PAX records with ``hdrcharset=BINARY`` in tar; raw bytes
without the UTF-8 flag in zip when a name is not UTF-8).

tar keeps modes, owners (ids and names), mtimes to the nanosecond (PAX), symlinks,
FIFOs and device nodes, extended attributes (``SCHILY.xattr.*``, as restic and GNU
tar write them) and hard links: the second and later links of a file are ``LNKTYPE``
entries naming the first. zip keeps unix modes in ``external_attr``, mtimes in the
extended-timestamp field, owners in the Info-ZIP unix field; it has no hard links, so
each link carries the content again.
"""

from __future__ import annotations

import os
import stat
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable
from typing import BinaryIO, Protocol

from keyark.repo.tree import BLOCKDEV, CHARDEV, DIR, FIFO, FILE, SYMLINK, TYPE_BITS, Node
from keyark.restorer.metadata import PRIVILEGED_XATTRS

#: Archive formats a directory can be dumped as.
ARCHIVE_FORMATS = ("tar", "zip")

#: Opens a file's content as a stream (read blob by blob).
ContentOpener = Callable[[Node], BinaryIO]

#: Tar entry types of FIFOs and device nodes (stored without content).
_SPECIAL_TYPES = {FIFO: tarfile.FIFOTYPE, CHARDEV: tarfile.CHRTYPE, BLOCKDEV: tarfile.BLKTYPE}
#: How much of a file is copied at a time.
_COPY_SIZE = 1 << 20


class ArchiveWriter(Protocol):
    """One archive being written: entries in walk order, then closed."""

    def add(self, name: str, node: Node, size: int) -> None:
        """Add ``node`` as ``name`` ("a/b", no leading "/"); ``size`` is a file's length."""

    def close(self) -> None:
        """Write the archive's end (its trailer or central directory)."""


def permission_bits(node: Node, drop_privileges: bool) -> int:
    """The node's mode bits, without setuid/setgid when ``drop_privileges``."""
    return node.mode & ~(stat.S_ISUID | stat.S_ISGID) if drop_privileges else node.mode


class TarArchive:
    """A PAX tar stream (restic's default dump format)."""

    def __init__(self, out: BinaryIO, opener: ContentOpener, drop_privileges: bool) -> None:
        self._tar = tarfile.open(  # noqa: SIM115 (closed by close())
            fileobj=out,
            mode="w|",
            format=tarfile.PAX_FORMAT,
            encoding="utf-8",
            errors="surrogateescape",
        )
        self._opener = opener
        self._drop = drop_privileges
        #: (device, inode) of each multiply linked file -> the name it was written as.
        self._links: dict[tuple[int, int], str] = {}

    def add(self, name: str, node: Node, size: int) -> None:
        """Add one entry (a hard link's later occurrences as links to the first)."""
        info = tarfile.TarInfo(name)
        info.mode = permission_bits(node, self._drop)
        info.uid, info.gid = node.uid, node.gid
        info.uname, info.gname = node.user, node.group
        seconds, fraction = divmod(node.mtime_ns, 1_000_000_000)
        info.mtime = max(seconds, 0)
        pax: dict[str, str] = {}
        if fraction or seconds < 0:
            pax["mtime"] = _decimal_seconds(node.mtime_ns)
        for attr, value in node.xattrs.items():
            if not (self._drop and attr.startswith(PRIVILEGED_XATTRS)):
                pax["SCHILY.xattr." + attr] = value.decode("utf-8", "surrogateescape")
        info.pax_headers = pax
        if node.type == FILE:
            key = (node.device, node.inode)
            first = self._links.get(key) if node.links > 1 else None
            if first is not None:
                info.type, info.linkname = tarfile.LNKTYPE, first
                self._tar.addfile(info)
                return
            if node.links > 1:
                self._links[key] = name
            info.size = size
            with self._opener(node) as content:
                self._tar.addfile(info, content)
            return
        if node.type == DIR:
            info.type = tarfile.DIRTYPE
        elif node.type == SYMLINK:
            info.type, info.linkname = tarfile.SYMTYPE, node.target
        elif node.type in _SPECIAL_TYPES:
            info.type = _SPECIAL_TYPES[node.type]
            if node.type != FIFO:
                info.devmajor, info.devminor = os.major(node.rdev), os.minor(node.rdev)
        else:
            return
        self._tar.addfile(info)

    def close(self) -> None:
        """Write the end-of-archive blocks."""
        self._tar.close()


class _RawNameInfo(zipfile.ZipInfo):
    """A zip entry whose name is written as its bytes when they are not UTF-8.

    zipfile encodes names as ASCII or UTF-8 (flag 0x800) and fails on a name that is
    neither; such a name is written as the original bytes without the UTF-8 flag,
    as Info-ZIP's zip does on Linux.
    """

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        try:
            self.filename.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(self.filename), self.flag_bits & ~0x800
        encoded: tuple[bytes, int] = super()._encodeFilenameFlags()  # type: ignore[misc]
        return encoded


class _WriteOnly:
    """A stream zipfile cannot seek in: it writes each entry's sizes after its data.

    The bytes are then the same whatever the output is (a pipe, a file, memory), and
    a file opened for appending (``>>``) is never seeked back into.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, data: bytes, /) -> int:
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        """Leave the output open: it belongs to the caller."""


class ZipArchive:
    """A zip stream with unix modes (it works on pipes: sizes follow each entry)."""

    def __init__(self, out: BinaryIO, opener: ContentOpener, drop_privileges: bool) -> None:
        self._zip = zipfile.ZipFile(_WriteOnly(out), mode="w", compression=zipfile.ZIP_DEFLATED)
        self._opener = opener
        self._drop = drop_privileges

    def add(self, name: str, node: Node, size: int) -> None:
        """Add one entry: a file with its content, a symlink with its target as content."""
        bits = TYPE_BITS.get(node.type)
        if bits is None:
            return
        info = _RawNameInfo(name + "/" if node.type == DIR else name, _zip_time(node.mtime_ns))
        info.create_system = 3  # unix: external_attr holds st_mode in its high 16 bits
        info.external_attr = (bits | permission_bits(node, self._drop)) << 16
        info.extra = _zip_extra(node)
        if node.type == DIR:
            info.external_attr |= 0x10  # the MS-DOS directory flag
            info.compress_type = zipfile.ZIP_STORED
            self._zip.writestr(info, b"")
        elif node.type == SYMLINK:
            self._zip.writestr(info, os.fsencode(node.target))
        elif node.type == FILE:
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = size  # so an entry over 4 GiB gets zip64 sizes up front
            with self._opener(node) as content, self._zip.open(info, "w") as entry:
                while block := content.read(_COPY_SIZE):
                    entry.write(block)
        else:
            self._zip.writestr(info, b"")

    def close(self) -> None:
        """Write the central directory."""
        self._zip.close()


def open_archive(
    archive: str, out: BinaryIO, opener: ContentOpener, drop_privileges: bool
) -> ArchiveWriter:
    """A writer of the named format (one of :data:`ARCHIVE_FORMATS`)."""
    if archive == "zip":
        return ZipArchive(out, opener, drop_privileges)
    return TarArchive(out, opener, drop_privileges)


def _decimal_seconds(ns: int) -> str:
    """Nanoseconds as exact decimal seconds ("-1.5", "1700000000.000000001")."""
    sign = "-" if ns < 0 else ""
    seconds, fraction = divmod(abs(ns), 1_000_000_000)
    return f"{sign}{seconds}.{fraction:09d}".rstrip("0").rstrip(".")


def _zip_time(mtime_ns: int) -> tuple[int, int, int, int, int, int]:
    """The local date and time zip's DOS field holds (clamped to 1980..2107)."""
    local = time.localtime(min(max(mtime_ns // 1_000_000_000, 315_532_800), 4_354_819_199))
    year = min(max(local.tm_year, 1980), 2107)
    return (year, local.tm_mon, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec)


def _zip_extra(node: Node) -> bytes:
    """Info-ZIP extra fields: extended timestamp (UTC mtime) and unix uid/gid."""
    extra = b""
    seconds = node.mtime_ns // 1_000_000_000
    if -(2**31) <= seconds < 2**31:
        extra += struct.pack("<HHBi", 0x5455, 5, 1, seconds)
    extra += struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, node.uid, 4, node.gid)
    return extra


__all__ = [
    "ARCHIVE_FORMATS",
    "ArchiveWriter",
    "ContentOpener",
    "TarArchive",
    "ZipArchive",
    "open_archive",
    "permission_bits",
]
