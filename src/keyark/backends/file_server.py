"""The base of the file-server backends (SFTP, FTP): a repository in a directory of a
server reached through a pool of sessions.

A file server has no atomic create-if-absent upload: a put writes a temporary file
``.tmp-<random>`` next to the target and renames it (the service module decides how).
Listing walks the directory tree; temporary files are left out of it and listed by
:meth:`FileServerBackend.list_temporary` instead (they are what a killed write leaves).
A service module implements the connection, its error reading and the file requests
(``_file_size``, ``_read``, ``_entries``, ``_remove``, ``_ensure_dir``,
``_write_temporary``, ``_rename_into_place``, ``_discard``).
"""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic

from keyark.backends.base import (
    TEMP_PREFIX,
    ObjectInfo,
    TemporaryObject,
    require_temporary_name,
    validate_name,
)
from keyark.backends.remote import C, ConnectionPool, RemoteBackend


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One entry of a directory listing on the server."""

    filename: str
    is_dir: bool
    size: int
    #: Modification time (Unix seconds) when the listing carries it.
    modified: float | None = None


class FileServerBackend(RemoteBackend, Generic[C]):
    """Files below the directory ``root`` of a server; sessions of type ``C`` from a pool."""

    def __init__(self, root: str, connections: int) -> None:
        super().__init__(connections)
        self.root = root
        self._pool: ConnectionPool[C] = ConnectionPool(
            self._connect, self._connections, self._where
        )
        #: Directories known to exist (created or found by an earlier put).
        self._made_dirs: set[str] = set()

    # -- the service's part ----------------------------------------------------------
    def _connect(self) -> C:
        """A new logged-in session (transient error if the server cannot be reached)."""
        raise NotImplementedError

    def _file_size(self, session: C, path: str) -> int | None:
        """The size of the file ``path``; None if there is no file there."""
        raise NotImplementedError

    def _read(self, session: C, path: str, offset: int, length: int | None) -> bytes:
        """``length`` bytes of ``path`` from ``offset`` (to the end if None)."""
        raise NotImplementedError

    def _entries(self, session: C, directory: str) -> builtins.list[DirectoryEntry]:
        """The entries of ``directory``; none if it does not exist."""
        raise NotImplementedError

    def _remove(self, session: C, path: str, name: str) -> None:
        """Delete the file ``path`` (the object ``name``); NotFoundError if it is missing."""
        raise NotImplementedError

    def _ensure_dir(self, session: C, directory: str) -> None:
        """Create ``directory`` and its missing parents (remembered in ``_made_dirs``)."""
        raise NotImplementedError

    def _write_temporary(self, session: C, tmp: str, data: bytes) -> None:
        """Write ``data`` to the new file ``tmp`` completely (durably where the server can)."""
        raise NotImplementedError

    def _rename_into_place(
        self, session: C, tmp: str, path: str, name: str, data: bytes, *, overwrite: bool
    ) -> bool:
        """Rename ``tmp`` to ``path`` (replacing a file only with ``overwrite``).

        False when ``path`` turned out to hold ``data`` already (``tmp`` is then
        discarded); :class:`AlreadyExistsError` when it holds anything else.
        """
        raise NotImplementedError

    def _discard(self, session: C, tmp: str) -> None:
        """Remove ``tmp`` after a failed or needless write; never raises."""
        raise NotImplementedError

    def _modified(self, session: C, path: str) -> float | None:
        """The modification time of ``path`` when the listing lacked it (None: unknown)."""
        return None

    # -- helpers ---------------------------------------------------------------------
    def _session(self) -> AbstractContextManager[C]:
        """A pooled session for the duration of the block."""
        return self._pool.lend()

    def _path(self, name: str) -> str:
        validate_name(name)
        return f"{self.root.rstrip('/')}/{name}"

    def _existing(self, session: C, path: str, name: str, data: bytes) -> bool:
        """False if ``path`` is absent, True if it holds ``data``, else AlreadyExistsError."""
        size = self._file_size(session, path)
        if size is None:
            return False
        self._accept_existing(name, data, lambda: self._read(session, path, 0, None), size=size)
        return True

    def _walk(
        self, session: C, rel: str, descend: Callable[[str], bool]
    ) -> Iterator[tuple[str, DirectoryEntry]]:
        """(name, entry) of every file below ``rel``, depth first, entering only the
        subdirectories ``descend`` accepts; a missing directory is empty."""
        directory = f"{self.root.rstrip('/')}/{rel}" if rel else self.root
        for entry in self._entries(session, directory):
            name = f"{rel}/{entry.filename}" if rel else entry.filename
            if not entry.is_dir:
                yield name, entry
            elif descend(name):
                yield from self._walk(session, name, descend)

    # -- the protocol ----------------------------------------------------------------
    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        """Write a temporary file next to ``name``, then rename it into place (see
        ``Backend.put``). Without ``overwrite`` an existing object is accepted if it
        holds ``data`` and refused (:class:`AlreadyExistsError`) otherwise; a temporary
        file that was not renamed is removed."""
        path = self._path(name)
        directory = path.rsplit("/", 1)[0] or "/"
        with self._errors(name), self._session() as session:
            self._ensure_dir(session, directory)
            if not overwrite and self._existing(session, path, name, data):
                return
            tmp = f"{directory.rstrip('/')}/{TEMP_PREFIX}{secrets.token_hex(8)}"
            renamed = False
            try:
                self._write_temporary(session, tmp, data)
                renamed = self._rename_into_place(
                    session, tmp, path, name, data, overwrite=overwrite
                )
            finally:
                if not renamed:
                    self._discard(session, tmp)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes of ``name`` from ``offset`` (see ``Backend.get``)."""
        path = self._path(name)
        with self._errors(name), self._session() as session:
            return self._read(session, path, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        """The size of ``name``; :class:`NotFoundError` if it does not exist."""
        path = self._path(name)
        with self._errors(name), self._session() as session:
            size = self._file_size(session, path)
        if size is None:
            raise self._not_found(name)
        return ObjectInfo(name, size)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every finished file whose name starts with ``prefix``, once; never a
        temporary file (see ``Backend.list``). Read whole before the first is yielded."""
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""

        def descend(name: str) -> bool:
            return (name + "/").startswith(prefix) or prefix.startswith(name + "/")

        with self._errors(prefix or "listing"), self._session() as session:
            found = [
                ObjectInfo(name, entry.size)
                for name, entry in self._walk(session, base, descend)
                if not entry.filename.startswith(TEMP_PREFIX) and name.startswith(prefix)
            ]
        yield from found

    def delete(self, name: str) -> None:
        """Remove ``name``; :class:`NotFoundError` if it does not exist."""
        path = self._path(name)
        with self._errors(name), self._session() as session:
            self._remove(session, path, name)

    def list_temporary(self) -> Iterator[TemporaryObject]:
        """Every ``.tmp-*`` file under the root, aged by the server's modification time.

        A file whose time the server does not tell has age 0: it is listed (and
        reported by ``check``) but never old enough for ``prune`` to remove.
        """
        with self._errors("temporary objects"), self._session() as session:
            files = [
                (name, entry)
                for name, entry in self._walk(session, "", lambda _name: True)
                if entry.filename.startswith(TEMP_PREFIX)
            ]
            times = [
                entry.modified
                if entry.modified is not None
                else self._modified(session, self._path(name))
                for name, entry in files
            ]
        now = time.time()
        for (name, entry), modified in zip(files, times, strict=True):
            age = 0.0 if modified is None else max(0.0, now - modified)
            yield TemporaryObject(name, entry.size, age)

    def delete_temporary(self, name: str) -> None:
        """Remove one ``.tmp-*`` file (``ValueError`` for any other name)."""
        require_temporary_name(name)
        self.delete(name)

    def close(self) -> None:
        """Close the pooled sessions; later calls fail. Idempotent."""
        self._pool.close()


__all__ = ["DirectoryEntry", "FileServerBackend"]
