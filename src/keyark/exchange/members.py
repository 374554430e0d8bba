"""Reading an archive's members safely, as a stream: tar (plain, gzip, zstd) and zip.

Nothing is extracted: each member comes with its metadata and, for a regular file, a
stream of its content (valid until the next member). Unsafe members are refused with
:class:`~keyark.errors.UnsafeArchiveError` naming the member: tar members pass
Python's ``tarfile`` ``data`` filter (absolute paths, ``..``, links out of the tree,
device files and FIFOs are refused; setuid/setgid bits and group/other write are
dropped), zip members the same rules applied to their names, modes and link targets.
"""

from __future__ import annotations

import io
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, cast

import zstandard

from keyark.errors import FormatError, UnsafeArchiveError
from keyark.exchange.streams import sniff

#: Member kinds.
FILE, DIR, SYMLINK, HARDLINK = "file", "dir", "symlink", "hardlink"
#: The tree a member's path must stay inside (a name only: nothing is created there).
_ROOT = "/keyark-import-root"
#: The most a zip read from a stream (a decrypted one) may hold in memory.
MAX_STREAMED_ZIP = 1 << 30


@dataclass
class Member:
    """One archive member: a relative path, its kind and metadata, and its content."""

    name: str
    kind: str
    mode: int
    mtime_ns: int
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    size: int = 0
    #: A symlink's target, or the member a hard link names.
    target: str = ""
    #: A regular file's content (read it before asking for the next member).
    content: BinaryIO | None = None


def read_members(stream: BinaryIO, what: str) -> Iterator[Member]:
    """The members of the archive in ``stream`` (format from its first bytes), in order.

    ``what`` names the archive in messages. A damaged archive is a FormatError.
    """
    head = stream.read(8)
    buffered = cast(BinaryIO, io.BufferedReader(_Prefixed(head, stream), 1 << 16))
    fmt = sniff(head)
    if fmt == "zip":
        yield from _zip_members(buffered, what)
        return
    source: BinaryIO = buffered
    if fmt == "tar.zst":
        source = cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(buffered))
    yield from _tar_members(source, what)


class _Prefixed(io.RawIOBase):
    """``prefix`` then the rest of ``stream`` (closing it leaves ``stream`` open)."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            size = min(len(target), len(self._prefix))
            target[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        data = self._stream.read(len(target))
        target[: len(data)] = data
        return len(data)


def _tar_members(stream: BinaryIO, what: str) -> Iterator[Member]:
    try:
        with tarfile.open(fileobj=stream, mode="r|*", errors="surrogateescape") as tar:
            for info in tar:
                member = _checked_tar(info, what)
                if member is None:
                    continue
                if member.kind == FILE:
                    member.content = cast(BinaryIO, tar.extractfile(info))
                yield member
    except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError) as error:
        raise FormatError(f"{what} is not a readable archive: {_reason(error)}") from None


def _checked_tar(info: tarfile.TarInfo, what: str) -> Member | None:
    """The member ``info`` describes after the ``data`` filter; None for the root entry.

    The filter strips a leading ``/``; an absolute member is refused here instead (it
    was meant for somewhere else).
    """
    if info.name.startswith("/"):
        raise UnsafeArchiveError(f"{what}: refusing member {info.name!r}: its path is absolute")
    try:
        safe = tarfile.data_filter(info, _ROOT)
    except tarfile.FilterError as error:
        raise UnsafeArchiveError(f"{what}: refusing member {info.name!r}: {_why(error)}") from None
    if safe is None:
        return None
    name = _relative(safe.name)
    if name is None:
        return None
    if safe.isdir():
        kind = DIR
    elif safe.issym():
        kind = SYMLINK
    elif safe.islnk():
        kind = HARDLINK
    elif safe.isreg():
        kind = FILE
    else:  # the filter refuses devices and FIFOs; anything else is not kept either
        raise UnsafeArchiveError(f"{what}: refusing member {info.name!r}: not a file or directory")
    target = safe.linkname
    if kind == HARDLINK:
        target = _relative(target) or ""
    mode = safe.mode if safe.mode is not None else (0o700 if kind == DIR else 0o600)
    if kind == SYMLINK:
        mode = 0o777  # a link's own mode means nothing; the filter leaves it unset
    return Member(
        name,
        kind,
        mode & 0o7777,
        int(safe.mtime * 1_000_000_000),
        uid=safe.uid or 0,
        gid=safe.gid or 0,
        user=safe.uname or "",
        group=safe.gname or "",
        size=safe.size if kind == FILE else 0,
        target=target,
    )


def _zip_members(stream: BinaryIO, what: str) -> Iterator[Member]:
    data = stream.read(MAX_STREAMED_ZIP + 1)
    if len(data) > MAX_STREAMED_ZIP:
        raise FormatError(f"{what} is a zip archive larger than 1 GiB; convert it to tar")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as error:
        raise FormatError(f"{what} is not a readable zip archive: {error}") from None
    with archive:
        for info in archive.infolist():
            member = _checked_zip(info, archive, what)
            if member is None:
                continue
            if member.kind == FILE:
                try:
                    member.content = cast(BinaryIO, archive.open(info))
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as error:
                    raise FormatError(f"{what}: cannot read {info.filename!r}: {error}") from None
            yield member


def _checked_zip(info: zipfile.ZipInfo, archive: zipfile.ZipFile, what: str) -> Member | None:
    """A zip entry checked by the same rules as the ``data`` filter; None for the root."""
    raw = info.filename
    if not info.flag_bits & 0x800:  # not flagged UTF-8: zipfile read the bytes as cp437
        try:
            raw = raw.encode("cp437").decode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            pass
    refuse = f"{what}: refusing member {raw!r}"
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchiveError(f"{refuse}: its path is absolute")
    if ".." in raw.replace("\\", "/").split("/"):
        raise UnsafeArchiveError(f"{refuse}: its path leaves the archive's tree (..)")
    name = _relative(raw)
    if name is None:
        return None
    unix = info.external_attr >> 16 if info.create_system == 3 else 0
    kind_bits = stat.S_IFMT(unix)
    mode = stat.S_IMODE(unix) & ~(stat.S_ISUID | stat.S_ISGID | 0o022)
    mtime_ns = _zip_mtime(info)
    if info.is_dir() or kind_bits == stat.S_IFDIR:
        return Member(name, DIR, mode or 0o700, mtime_ns)
    if kind_bits == stat.S_IFLNK:
        target = archive.read(info).decode("utf-8", "surrogateescape")
        _check_link(name, target, refuse)
        return Member(name, SYMLINK, 0o777, mtime_ns, target=target)
    if kind_bits not in (0, stat.S_IFREG):
        raise UnsafeArchiveError(f"{refuse}: it is a device file or FIFO")
    return Member(name, FILE, mode or 0o600, mtime_ns, size=info.file_size)


def _check_link(name: str, target: str, refuse: str) -> None:
    if target.startswith("/"):
        raise UnsafeArchiveError(f"{refuse}: it links to an absolute path")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(f"{refuse}: it links out of the archive's tree")


def _zip_mtime(info: zipfile.ZipInfo) -> int:
    import time

    try:
        return int(time.mktime((*info.date_time, 0, 0, -1))) * 1_000_000_000
    except (OverflowError, ValueError):
        return 0


def _relative(name: str) -> str | None:
    """``./a//b/`` -> ``a/b``; None for the archive's root (``.``, ``./``)."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return "/".join(parts) or None


def _why(error: tarfile.FilterError) -> str:
    if isinstance(error, tarfile.AbsolutePathError):
        return "its path is absolute"
    if isinstance(error, tarfile.OutsideDestinationError):
        return "its path leaves the archive's tree (..)"
    if isinstance(error, tarfile.SpecialFileError):
        return "it is a device file or FIFO"
    if isinstance(error, tarfile.AbsoluteLinkError):
        return "it links to an absolute path"
    if isinstance(error, tarfile.LinkOutsideDestinationError):
        return "it links out of the archive's tree"
    return str(error)


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]


__all__ = ["DIR", "FILE", "HARDLINK", "SYMLINK", "Member", "read_members"]
