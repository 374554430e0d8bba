"""Local directory backend: atomic writes by temp file, fsync, rename, directory fsync.

Files are created 0600 and directories 0700. An NFS or SMB mount is a local path;
atomic rename and fsync then depend on the mount's semantics.
"""

from __future__ import annotations

import errno
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from keyark.backends.base import (
    TEMP_PREFIX,
    Capabilities,
    ObjectInfo,
    TemporaryObject,
    require_temporary_name,
    validate_name,
)
from keyark.directories import missing_directories
from keyark.errors import (
    AlreadyExistsError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
)

FILE_MODE = 0o600
DIR_MODE = 0o700


def _oserror(error: OSError, what: str, location: str) -> Exception:
    if error.errno == errno.ENOENT:
        return NotFoundError(f"{what} not found in {location}")
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return PermanentBackendError(f"local backend {location}: disk full while writing {what}")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermanentBackendError(
            f"local backend {location}: permission denied for {what} ({error.strerror})"
        )
    if error.errno in (errno.EIO, errno.EAGAIN, errno.EINTR):
        return TransientBackendError(f"local backend {location}: {error.strerror} on {what}")
    return PermanentBackendError(f"local backend {location}: {error.strerror} on {what}")


class LocalBackend:
    """A repository in a directory of the local filesystem."""

    def __init__(self, root: str | os.PathLike[str], *, connections: int = 2) -> None:
        self.root = Path(root)
        self._connections = max(1, connections)
        self._made_dirs: set[Path] = set()

    def location(self) -> str:
        """The root directory's path."""
        return str(self.root)

    def capabilities(self) -> Capabilities:
        """Parallel connections as configured; ``rename`` replaces atomically."""
        return Capabilities(connections=self._connections, atomic_replace=True)

    def _path(self, name: str) -> Path:
        validate_name(name)
        return self.root / name

    def _ensure_dir(self, directory: Path) -> None:
        if directory in self._made_dirs:
            return
        for path in missing_directories(directory):
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                continue
            _fsync_dir(path.parent)
        self._made_dirs.add(directory)

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        """Write a temporary file, fsync it, then link it into place (``rename`` with
        ``overwrite``) and fsync the directory (see ``Backend.put``). ``link()`` fails
        on an existing target, so no race overwrites; identical content is success."""
        path = self._path(name)
        try:
            self._ensure_dir(path.parent)
            if not overwrite and path.exists():
                if _same_content(path, data):
                    return
                raise AlreadyExistsError(f"{name} already exists in {self.location()}")
            tmp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                _remove_quietly(tmp)
                raise
            os.close(fd)
            try:
                if overwrite:
                    os.replace(tmp, path)
                else:
                    # link() fails if the target exists: no race can overwrite.
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        if not _same_content(path, data):
                            raise AlreadyExistsError(
                                f"{name} already exists in {self.location()}"
                            ) from None
                    finally:
                        _remove_quietly(tmp)
            except BaseException:
                _remove_quietly(tmp)
                raise
            _fsync_dir(path.parent)
        except OSError as error:
            raise _oserror(error, name, self.location()) from None

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes of ``name`` from ``offset`` (see ``Backend.get``)."""
        path = self._path(name)
        try:
            with open(path, "rb") as handle:
                if offset:
                    handle.seek(offset)
                return handle.read() if length is None else handle.read(length)
        except OSError as error:
            raise _oserror(error, name, self.location()) from None

    def stat(self, name: str) -> ObjectInfo:
        """The size of ``name``; :class:`NotFoundError` if it does not exist."""
        try:
            return ObjectInfo(name, self._path(name).stat().st_size)
        except OSError as error:
            raise _oserror(error, name, self.location()) from None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every finished file whose name starts with ``prefix``, once; never a
        temporary file (see ``Backend.list``)."""
        base = self.root / prefix.rstrip("/") if prefix else self.root
        if not base.is_dir():
            return
        root_len = len(str(self.root)) + 1
        for dirpath, _dirnames, filenames in os.walk(base):
            for filename in filenames:
                if filename.startswith(TEMP_PREFIX):
                    continue
                full = os.path.join(dirpath, filename)
                name = full[root_len:]
                if not name.startswith(prefix):
                    continue
                try:
                    size = os.lstat(full).st_size
                except FileNotFoundError:
                    continue
                yield ObjectInfo(name, size)

    def delete(self, name: str) -> None:
        """Remove ``name`` and fsync its directory; :class:`NotFoundError` if missing."""
        path = self._path(name)
        try:
            os.unlink(path)
        except OSError as error:
            raise _oserror(error, name, self.location()) from None
        _fsync_dir(path.parent)

    def list_temporary(self) -> Iterator[TemporaryObject]:
        """Every ``.tmp-*`` file under the root, with its age by modification time."""
        if not self.root.is_dir():
            return
        root_len = len(str(self.root)) + 1
        now = time.time()
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for filename in filenames:
                if not filename.startswith(TEMP_PREFIX):
                    continue
                full = os.path.join(dirpath, filename)
                try:
                    info = os.lstat(full)
                except FileNotFoundError:
                    continue  # its write finished (renamed) or failed meanwhile
                yield TemporaryObject(full[root_len:], info.st_size, max(0.0, now - info.st_mtime))

    def delete_temporary(self, name: str) -> None:
        """Remove one ``.tmp-*`` file (``ValueError`` for any other name)."""
        require_temporary_name(name)
        self.delete(name)

    def close(self) -> None:
        """Forget the directories known to exist (there is nothing else to release)."""
        self._made_dirs.clear()


def _same_content(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
