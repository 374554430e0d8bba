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

import errno
import getpass
import os
import posixpath
import socket
import stat as stat_module
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paramiko
from paramiko.sftp import CMD_EXTENDED

from keyark.backends.file_server import DirectoryEntry, FileServerBackend
from keyark.backends.registry import BackendOptions
from keyark.errors import (
    KeyarkError,
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
    """One SSH connection with its SFTP session (a pooled connection)."""

    client: paramiko.SSHClient
    sftp: paramiko.SFTPClient
    #: The backend's message prefix, for "connection lost".
    where: str

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def usable(self) -> bool:
        return self.alive()

    def keep(self, error: BaseException | None) -> bool:
        """Pooled again after success or a clean refusal; a dead one is "connection lost"."""
        if error is None or isinstance(error, (KeyarkError, FileNotFoundError, PermissionError)):
            return self.alive()
        if not isinstance(error, Exception):
            return False
        if not self.alive():
            raise TransientBackendError(
                f"{self.where}: connection lost ({type(error).__name__})"
            ) from None
        return isinstance(error, OSError) and not isinstance(error, socket.timeout)

    def close(self) -> None:
        with suppress(Exception):
            self.sftp.close()
        with suppress(Exception):
            self.client.close()


class SFTPBackend(FileServerBackend[_Connection]):
    """A repository in a directory on an SFTP server, reached over SSH."""

    kind = "sftp"
    transient_errors = (OSError, EOFError, paramiko.SSHException)

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
        super().__init__(path.rstrip("/") or "/", connections)
        self.known_hosts = known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        self.identity, self.timeout = identity, timeout
        self._fsync_supported = True

    def location(self) -> str:
        """``sftp://user@host[:port]/path``."""
        port = "" if self.port == 22 else f":{self.port}"
        return f"sftp://{self.user}@{self.host}{port}{self.root}"

    def _connect(self) -> _Connection:
        client = paramiko.SSHClient()
        if os.path.exists(self.known_hosts):
            client.load_system_host_keys(self.known_hosts)
        elif self.known_hosts != os.path.expanduser("~/.ssh/known_hosts"):
            raise PermanentBackendError(
                f"{self._where()}: known_hosts file {self.known_hosts} not found"
            )
        client.set_missing_host_key_policy(_RejectUnknownHost())
        if self.identity is not None and not os.path.exists(self.identity):
            raise PermanentBackendError(f"{self._where()}: identity file {self.identity} not found")
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
                f"{self._where()}: cannot connect to {self.host}:{self.port} "
                f"({type(error).__name__})"
            ) from None
        return _Connection(client, sftp, self._where())

    def _classify(self, error: Exception, what: str, *, container: bool) -> KeyarkError | None:
        where, host, known = self._where(), self.host, self.known_hosts
        refusals: list[tuple[type[BaseException], str]] = [
            (_UnknownHostKeyError, f"host key of {host} is unknown (not in {known}); verify it"),
            (
                paramiko.BadHostKeyException,
                f"host key of {host} does not match {known} (changed key or man-in-the-middle)",
            ),
            (
                paramiko.AuthenticationException,
                f"authentication failed for user {self.user} (check the identity file, the agent)",
            ),
            (PermissionError, f"permission denied for {what}"),
            (socket.gaierror, f"cannot resolve host {host}"),
        ]
        for kind, message in refusals:
            if isinstance(error, kind):
                return PermanentBackendError(f"{where}: {message}")
        if isinstance(error, FileNotFoundError) or getattr(error, "errno", None) == errno.ENOENT:
            return self._not_found(what)
        if isinstance(error, OSError) and error.errno is None and type(error) is OSError:
            # A generic SSH_FX_FAILURE: the server refused (full disk, quota, ...).
            return PermanentBackendError(
                f"{where}: server failure on {what} ({error}); disk full or quota exceeded?"
            )
        return None

    # -- file requests ---------------------------------------------------------------
    def _file_size(self, session: _Connection, path: str) -> int | None:
        try:
            attrs = session.sftp.stat(path)
        except FileNotFoundError:
            return None
        return None if stat_module.S_ISDIR(attrs.st_mode or 0) else attrs.st_size or 0

    def _read(self, session: _Connection, path: str, offset: int, length: int | None) -> bytes:
        with session.sftp.open(path, "rb") as handle:
            size = handle.stat().st_size or 0
            start = min(offset, size)
            end = size if length is None else min(size, offset + length)
            if end <= start:
                return b""
            # Pipelined reads; collected chunk by chunk (paramiko's own read() of a
            # large size concatenates bytes quadratically).
            handle.seek(start)
            handle.prefetch(end)  # no request cap: paramiko ends early with one
            chunks: list[bytes] = []
            remaining = end - start
            while remaining > 0:
                chunk = handle.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            return b"".join(chunks)

    def _entries(self, session: _Connection, directory: str) -> list[DirectoryEntry]:
        try:
            listing = session.sftp.listdir_attr(directory)
        except FileNotFoundError:
            return []
        return [
            DirectoryEntry(
                entry.filename,
                stat_module.S_ISDIR(entry.st_mode or 0),
                entry.st_size or 0,
                float(entry.st_mtime) if entry.st_mtime else None,
            )
            for entry in listing
        ]

    def _remove(self, session: _Connection, path: str, name: str) -> None:
        session.sftp.remove(path)

    def _ensure_dir(self, session: _Connection, directory: str) -> None:
        if directory in self._made_dirs or directory in ("/", ""):
            return
        sftp = session.sftp
        for attempt in range(2):
            try:
                sftp.mkdir(directory, DIR_MODE)
                break
            except FileNotFoundError:  # the parent is missing too
                if attempt:
                    raise
                self._ensure_dir(session, posixpath.dirname(directory))
            except OSError:  # exists already (or a real error: look)
                if not stat_module.S_ISDIR(sftp.stat(directory).st_mode or 0):
                    raise
                break
        self._made_dirs.add(directory)

    def _write_temporary(self, session: _Connection, tmp: str, data: bytes) -> None:
        """Pipelined writes, each answer confirmed, then ``fsync@openssh.com`` if offered."""
        sftp = session.sftp
        with sftp.open(tmp, "wbx") as handle:
            handle.chmod(FILE_MODE)
            handle.set_pipelined(True)
            handle.write(data)
            handle.flush()
            _confirm_writes(sftp, handle, len(data))
            self._fsync(sftp, handle)

    def _fsync(self, sftp: paramiko.SFTPClient, handle: paramiko.SFTPFile) -> None:
        try:
            if self._fsync_supported:
                sftp._request(CMD_EXTENDED, "fsync@openssh.com", handle.handle)
        except OSError:
            self._fsync_supported = False

    def _rename_into_place(
        self, session: _Connection, tmp: str, path: str, name: str, data: bytes, *, overwrite: bool
    ) -> bool:
        """``posix-rename@openssh.com`` to replace; else plain ``rename``, which OpenSSH
        implements as ``link()``+``unlink()``: it fails if the target exists."""
        if overwrite:
            session.sftp.posix_rename(tmp, path)
            return True
        try:
            session.sftp.rename(tmp, path)
        except OSError as error:
            if error.errno is not None or not self._existing(session, path, name, data):
                raise
            return False
        return True

    def _discard(self, session: _Connection, tmp: str) -> None:
        with suppress(OSError):
            session.sftp.remove(tmp)


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
