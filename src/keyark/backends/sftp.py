"""SFTP backend (paramiko): ``sftp://user@host[:port]/path``, thread-safe by a connection pool.

Host keys are checked against ``settings["sftp_known_hosts"]`` or ``~/.ssh/known_hosts``;
unknown or changed keys are refused. Authentication: ``settings["sftp_identity"]`` (a key
file), the SSH agent, or (without an identity) the usual ``~/.ssh`` keys; no passwords.
A put writes ``.tmp-<random>`` (never listed) in the target directory, fsyncs it where the
server offers ``fsync@openssh.com``, then renames it: plain SFTP ``rename`` (OpenSSH uses
``link()``, so an existing object is never replaced) or, for ``overwrite=True``,
``posix-rename@openssh.com``.
"""

from __future__ import annotations

import builtins
import errno
import getpass
import os
import posixpath
import secrets
import socket
import stat as stat_module
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paramiko
from paramiko.sftp import CMD_EXTENDED

from keyark.backends.base import (
    TEMP_PREFIX,
    Capabilities,
    ObjectInfo,
    TemporaryObject,
    is_temporary_name,
    validate_name,
)
from keyark.backends.registry import BackendOptions
from keyark.errors import (
    AlreadyExistsError,
    KeyarkError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
    UsageError,
)

FILE_MODE = 0o600
DIR_MODE = 0o700
DEFAULT_CONNECTIONS = 4
DEFAULT_TIMEOUT = 30.0
_READ_CHUNK = 32768
_CONNECT_FAILURES = (OSError, EOFError, paramiko.SSHException)


class _UnknownHostKeyError(Exception):
    """The server's host key is not in the known_hosts file."""


_CONNECT_REFUSALS = (
    paramiko.AuthenticationException,
    paramiko.BadHostKeyException,
    _UnknownHostKeyError,
    socket.gaierror,
)


class _RejectUnknownHost:
    """A paramiko missing-host-key policy (duck-typed) that refuses unknown hosts."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise _UnknownHostKeyError(hostname)


@dataclass
class _Connection:
    client: paramiko.SSHClient
    sftp: paramiko.SFTPClient

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def close(self) -> None:
        with suppress(Exception):
            self.sftp.close()
        with suppress(Exception):
            self.client.close()


class SFTPBackend:
    """A repository in a directory on an SFTP server, reached over SSH."""

    def __init__(
        self,
        host: str,
        path: str,
        *,
        user: str,
        port: int = 22,
        known_hosts: str | None = None,
        identity: str | None = None,
        connections: int = DEFAULT_CONNECTIONS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.host, self.port, self.user = host, port, user
        self.root = path.rstrip("/") or "/"
        self.known_hosts = known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        self.identity, self.timeout = identity, timeout
        self._connections = max(1, connections)
        self._slots = threading.BoundedSemaphore(self._connections)
        self._lock = threading.Lock()
        self._idle: list[_Connection] = []
        self._made_dirs: set[str] = set()
        self._fsync_supported = True
        self._closed = False

    def location(self) -> str:
        port = "" if self.port == 22 else f":{self.port}"
        return f"sftp://{self.user}@{self.host}{port}{self.root}"

    def capabilities(self) -> Capabilities:
        return Capabilities(connections=self._connections, atomic_replace=True)

    def _connect(self) -> _Connection:
        client = paramiko.SSHClient()
        if os.path.exists(self.known_hosts):
            client.load_system_host_keys(self.known_hosts)
        elif self.known_hosts != os.path.expanduser("~/.ssh/known_hosts"):
            raise PermanentBackendError(
                f"sftp backend {self.location()}: known_hosts file {self.known_hosts} not found"
            )
        client.set_missing_host_key_policy(_RejectUnknownHost())
        if self.identity is not None and not os.path.exists(self.identity):
            raise PermanentBackendError(
                f"sftp backend {self.location()}: identity file {self.identity} not found"
            )
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                key_filename=self.identity,
                allow_agent=True,
                look_for_keys=self.identity is None,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                channel_timeout=self.timeout,
            )
            client.get_transport().set_keepalive(30)
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.timeout)
        except BaseException as error:
            client.close()
            if isinstance(error, _CONNECT_REFUSALS) or not isinstance(error, _CONNECT_FAILURES):
                raise  # translated by _errors()
            raise TransientBackendError(
                f"sftp backend {self.location()}: cannot connect to {self.host}:{self.port} "
                f"({type(error).__name__})"
            ) from None
        return _Connection(client, sftp)

    @contextmanager
    def _session(self) -> Iterator[paramiko.SFTPClient]:
        if self._closed:
            raise PermanentBackendError(f"sftp backend {self.location()} is closed")
        self._slots.acquire()
        try:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is not None and not connection.alive():
                connection.close()
                connection = None
            connection = connection or self._connect()
            keep = False
            try:
                yield connection.sftp
                keep = True
            except (KeyarkError, FileNotFoundError, PermissionError):
                keep = True
                raise
            except Exception as error:
                if not connection.alive():
                    raise TransientBackendError(
                        f"sftp backend {self.location()}: connection lost ({type(error).__name__})"
                    ) from None
                keep = isinstance(error, OSError) and not isinstance(error, socket.timeout)
                raise
            finally:
                if keep and connection.alive() and not self._closed:
                    with self._lock:
                        self._idle.append(connection)
                else:
                    connection.close()
        finally:
            self._slots.release()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except KeyarkError:
            raise
        except Exception as error:
            raise self._translate(error, what) from None

    def _translate(self, error: Exception, what: str) -> KeyarkError:
        where, host, known = f"sftp backend {self.location()}", self.host, self.known_hosts
        refusals: list[tuple[type[BaseException], str]] = [
            (_UnknownHostKeyError, f"host key of {host} is unknown (not in {known}); verify it"),
            (
                paramiko.BadHostKeyException,
                f"host key of {host} does not match {known} (changed key or man-in-the-middle)",
            ),
            (
                paramiko.AuthenticationException,
                f"authentication failed for user {self.user} (check sftp_identity, the agent)",
            ),
            (PermissionError, f"permission denied for {what}"),
            (socket.gaierror, f"cannot resolve host {host}"),
        ]
        for kind, message in refusals:
            if isinstance(error, kind):
                return PermanentBackendError(f"{where}: {message}")
        if isinstance(error, FileNotFoundError) or getattr(error, "errno", None) == errno.ENOENT:
            return NotFoundError(f"{what} not found in {self.location()}")
        if isinstance(error, OSError) and error.errno is None and type(error) is OSError:
            # A generic SSH_FX_FAILURE: the server refused (full disk, quota, ...).
            return PermanentBackendError(
                f"{where}: server failure on {what} ({error}); disk full or quota exceeded?"
            )
        if isinstance(error, (OSError, EOFError, paramiko.SSHException)):
            return TransientBackendError(f"{where}: {type(error).__name__} on {what}")
        return PermanentBackendError(f"{where}: {type(error).__name__} on {what}")

    def _path(self, name: str) -> str:
        validate_name(name)
        return posixpath.join(self.root, name)

    def _ensure_dir(self, sftp: paramiko.SFTPClient, directory: str) -> None:
        if directory in self._made_dirs or directory in ("/", ""):
            return
        for attempt in range(2):
            try:
                sftp.mkdir(directory, DIR_MODE)
                break
            except FileNotFoundError:  # the parent is missing too
                if attempt:
                    raise
                self._ensure_dir(sftp, posixpath.dirname(directory))
            except OSError:  # exists already (or a real error: look)
                if not stat_module.S_ISDIR(sftp.stat(directory).st_mode or 0):
                    raise
                break
        self._made_dirs.add(directory)

    def _existing(self, sftp: paramiko.SFTPClient, path: str, name: str, data: bytes) -> bool:
        """False if ``path`` is absent, True if it holds ``data``, else AlreadyExistsError."""
        try:
            size = sftp.stat(path).st_size
        except FileNotFoundError:
            return False
        if size == len(data) and self._read(sftp, path, 0, None) == data:
            return True
        raise AlreadyExistsError(f"{name} already exists in {self.location()}")

    def _read(self, sftp: paramiko.SFTPClient, path: str, offset: int, length: int | None) -> bytes:
        with sftp.open(path, "rb") as handle:
            size = handle.stat().st_size or 0
            start = min(offset, size)
            end = size if length is None else min(size, offset + length)
            if end <= start:
                return b""
            # Pipelined reads; collected chunk by chunk (paramiko's own read() of a
            # large size concatenates bytes quadratically).
            handle.seek(start)
            handle.prefetch(end)  # no request cap: paramiko ends early with one
            chunks: builtins.list[bytes] = []
            remaining = end - start
            while remaining > 0:
                chunk = handle.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            return b"".join(chunks)

    def _fsync(self, sftp: paramiko.SFTPClient, handle: paramiko.SFTPFile) -> None:
        try:
            if self._fsync_supported:
                sftp._request(CMD_EXTENDED, "fsync@openssh.com", handle.handle)
        except OSError:
            self._fsync_supported = False

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        path = self._path(name)
        directory = posixpath.dirname(path)
        with self._errors(name), self._session() as sftp:
            self._ensure_dir(sftp, directory)
            if not overwrite and self._existing(sftp, path, name, data):
                return
            tmp = posixpath.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}")
            renamed = False
            try:
                with sftp.open(tmp, "wbx") as handle:
                    handle.chmod(FILE_MODE)
                    handle.set_pipelined(True)
                    handle.write(data)
                    handle.flush()
                    _confirm_writes(sftp, handle, len(data))
                    self._fsync(sftp, handle)
                if overwrite:
                    sftp.posix_rename(tmp, path)
                else:
                    try:
                        sftp.rename(tmp, path)
                    except OSError as error:
                        # OpenSSH's rename is link()+unlink(): it fails if the target exists.
                        if error.errno is not None or not self._existing(sftp, path, name, data):
                            raise
                        return
                renamed = True
            finally:
                if not renamed:
                    with suppress(OSError):
                        sftp.remove(tmp)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(name)
        with self._errors(name), self._session() as sftp:
            return self._read(sftp, path, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        path = self._path(name)
        with self._errors(name), self._session() as sftp:
            attrs = sftp.stat(path)
            if stat_module.S_ISDIR(attrs.st_mode or 0):
                raise NotFoundError(f"{name} not found in {self.location()}")
            return ObjectInfo(name, attrs.st_size or 0)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""

        def descend(name: str) -> bool:
            return (name + "/").startswith(prefix) or prefix.startswith(name + "/")

        with self._errors(prefix or "listing"), self._session() as sftp:
            found = [
                ObjectInfo(name, entry.st_size or 0)
                for name, entry in self._files(sftp, base, descend)
                if not entry.filename.startswith(TEMP_PREFIX) and name.startswith(prefix)
            ]
        yield from found

    def _files(
        self, sftp: paramiko.SFTPClient, rel: str, descend: Callable[[str], bool]
    ) -> Iterator[tuple[str, paramiko.SFTPAttributes]]:
        """(name, attributes) of every non-directory entry below ``rel``, depth first,
        entering only the subdirectories ``descend`` accepts; a missing directory is empty."""
        directory = posixpath.join(self.root, rel) if rel else self.root
        try:
            entries = sftp.listdir_attr(directory)
        except FileNotFoundError:
            return
        for entry in entries:
            name = f"{rel}/{entry.filename}" if rel else entry.filename
            if stat_module.S_ISDIR(entry.st_mode or 0):
                if descend(name):
                    yield from self._files(sftp, name, descend)
            else:
                yield name, entry

    def delete(self, name: str) -> None:
        path = self._path(name)
        with self._errors(name), self._session() as sftp:
            sftp.remove(path)

    def list_temporary(self) -> Iterator[TemporaryObject]:
        """Every ``.tmp-*`` file under the root, aged by the server's modification time."""
        with self._errors("temporary objects"), self._session() as sftp:
            now = time.time()
            found = [
                TemporaryObject(
                    name, entry.st_size or 0, max(0.0, now - float(entry.st_mtime or now))
                )
                for name, entry in self._files(sftp, "", lambda _name: True)
                if entry.filename.startswith(TEMP_PREFIX)
            ]
        yield from found

    def delete_temporary(self, name: str) -> None:
        """Remove one ``.tmp-*`` file (``ValueError`` for any other name)."""
        if not is_temporary_name(name):
            raise ValueError(f"{name!r} is not a temporary object")
        self.delete(name)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _confirm_writes(sftp: paramiko.SFTPClient, handle: paramiko.SFTPFile, size: int) -> None:
    """Collect the answer to every pipelined write (paramiko drops those it did not wait
    for: a full disk went unnoticed) before another request consumes them; raise on one."""
    pending = getattr(handle, "_reqs", None)
    if pending is None:  # another paramiko: at least the size must be right
        if handle.stat().st_size != size:
            raise OSError(f"short write of {size} bytes")
        return
    while pending:
        kind, _message = sftp._read_response(pending.popleft())  # raises on a failure
        if kind != paramiko.sftp.CMD_STATUS:
            raise OSError("unexpected answer to a write")


def from_url(url: str, options: BackendOptions) -> SFTPBackend:
    """Open ``sftp://user@host[:port]/path`` (settings: ``sftp_known_hosts``,
    ``sftp_identity``, ``sftp_connections``, ``sftp_timeout``)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sftp" or not parts.hostname:
        raise UsageError("an SFTP repository URL looks like sftp://user@host[:port]/path")
    if parts.password is not None:
        raise UsageError("passwords in sftp:// URLs are not supported; use an SSH key or agent")
    try:
        port = parts.port or 22
    except ValueError:
        raise UsageError("the port in the sftp:// URL is not a number") from None
    path = unquote(parts.path)
    if not path or path == "/":
        raise UsageError("the sftp:// URL needs a directory path, e.g. sftp://host/srv/keyark")
    settings = options.settings
    return SFTPBackend(
        parts.hostname,
        path,
        user=unquote(parts.username) if parts.username else getpass.getuser(),
        port=port,
        known_hosts=str(settings["sftp_known_hosts"]) if settings.get("sftp_known_hosts") else None,
        identity=str(settings["sftp_identity"]) if settings.get("sftp_identity") else None,
        connections=int(settings.get("sftp_connections", DEFAULT_CONNECTIONS)),
        timeout=float(settings.get("sftp_timeout", DEFAULT_TIMEOUT)),
    )
