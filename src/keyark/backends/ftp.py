"""FTP and explicit-TLS FTPS backend (ftplib): ``ftp[s]://user[:password]@host[:port]/path``.

The path is absolute on the server; the password comes from the URL or ``KEYARK_FTP_PASSWORD``;
FTPS (``AUTH TLS`` + ``PROT P``) trusts ``settings["ftp_ca_file"]`` or the system store. A put
is ``STOR`` to ``.tmp-<random>`` (listed only by ``list_temporary``), then ``RNFR``/``RNTO``.
FTP has no atomic create-if-absent: ``overwrite=False`` checks just before the rename, and puts
of one name are serialised within this process only. Nor is ``overwrite=True`` atomic on every
server: one that refuses to rename onto an existing file gets ``DELE``, then ``RNTO``, and a
crash between the two leaves no object, so :meth:`FTPBackend.capabilities` declares
``atomic_replace=False`` (the keyring and config survive it: see
:mod:`keyark.repo.state_copies`). A connection pool makes it thread-safe.
"""

from __future__ import annotations

import builtins
import calendar
import ftplib
import io
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from keyark.backends.base import (
    Capabilities,
    ObjectInfo,
    TemporaryObject,
    is_temporary_name,
    validate_name,
)
from keyark.backends.registry import BackendOptions, secret_setting
from keyark.errors import (
    AlreadyExistsError,
    KeyarkError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
    UsageError,
)

TEMP_PREFIX = ".tmp-"
DEFAULT_CONNECTIONS = 4
DEFAULT_TIMEOUT = 30.0
_BLOCK = 256 * 1024
_IDLE_CHECK_SECONDS = 20.0
_NAME_LOCKS = 64
_PROTOCOL_ERRORS = (ftplib.error_perm, ftplib.error_temp)


class _FTPTLS(ftplib.FTP_TLS):
    """FTP_TLS that resumes the control channel's TLS session on data channels (vsftpd)."""

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)  # noqa: S321
        if getattr(self, "_prot_p", False):
            session = getattr(self.sock, "session", None)
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


@dataclass
class _Connection:
    ftp: ftplib.FTP
    last_used: float = field(default_factory=time.monotonic)
    broken: bool = False
    #: Listing switches the session to ASCII; SIZE needs binary (TYPE I) again.
    binary: bool = True

    def close(self) -> None:
        with suppress(Exception):
            self.ftp.close()


def _code(error: BaseException) -> str:
    return str(error)[:3]


class FTPBackend:
    """A repository in a directory on an FTP or FTPS server."""

    def __init__(
        self,
        host: str,
        path: str,
        *,
        port: int = 21,
        user: str = "anonymous",
        password: str = "",
        tls: bool = False,
        ca_file: str | None = None,
        connections: int = DEFAULT_CONNECTIONS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.host, self.port, self.user, self._password = host, port, user, password
        self.tls, self.ca_file, self.timeout = tls, ca_file, timeout
        self.root = "/" + path.strip("/")
        self._connections = max(1, connections)
        self._slots = threading.BoundedSemaphore(self._connections)
        self._lock = threading.Lock()
        self._idle: list[_Connection] = []
        self._made_dirs: set[str] = set()
        self._name_locks = [threading.Lock() for _ in range(_NAME_LOCKS)]
        self._mlsd = True
        self._closed = False

    def location(self) -> str:
        return f"ftp{'s' if self.tls else ''}://{self.user}@{self.host}:{self.port}{self.root}"

    def capabilities(self) -> Capabilities:
        # RNTO onto an existing file is refused by some servers: DELE, then RNTO (not atomic).
        return Capabilities(connections=self._connections, atomic_replace=False)

    def _connect(self) -> _Connection:
        ftp = (
            _FTPTLS(context=ssl.create_default_context(cafile=self.ca_file), timeout=self.timeout)
            if self.tls
            else ftplib.FTP(timeout=self.timeout)  # noqa: S321 (plain FTP when asked for)
        )
        try:
            ftp.connect(self.host, self.port)
            try:
                ftp.login(self.user, self._password)
            except ftplib.error_perm as error:
                raise PermanentBackendError(
                    f"{self._where()}: login failed for user {self.user} ({_code(error)})"
                ) from None
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.voidcmd("TYPE I")
        except BaseException:
            _Connection(ftp).close()
            raise
        return _Connection(ftp)

    @contextmanager
    def _session(self) -> Iterator[_Connection]:
        if self._closed:
            raise PermanentBackendError(f"{self._where()} is closed")
        self._slots.acquire()
        try:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection and time.monotonic() - connection.last_used > _IDLE_CHECK_SECONDS:
                try:
                    connection.ftp.voidcmd("NOOP")  # servers drop idle sessions
                except Exception:
                    connection.close()
                    connection = None
            connection = connection or self._connect()
            keep = False
            try:
                yield connection
                keep = True
            except (KeyarkError, *_PROTOCOL_ERRORS):
                keep = True  # clean replies: the session is still in a known state
                raise
            finally:
                if keep and not connection.broken and not self._closed:
                    connection.last_used = time.monotonic()
                    with self._lock:
                        self._idle.append(connection)
                else:
                    connection.close()
        finally:
            self._slots.release()

    def _where(self) -> str:
        return f"ftp{'s' if self.tls else ''} backend {self.location()}"

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except KeyarkError:
            raise
        except Exception as error:
            raise self._translate(error, what) from None

    def _translate(self, error: Exception, what: str) -> KeyarkError:
        where = self._where()
        code = _code(error) if isinstance(error, ftplib.Error) else ""
        if code in ("452", "552"):
            return PermanentBackendError(f"{where}: storage full or quota exceeded ({what})")
        if isinstance(error, ftplib.error_perm):
            return PermanentBackendError(f"{where}: server refused {what} ({code})")
        if isinstance(error, ftplib.error_temp):
            return TransientBackendError(f"{where}: temporary failure on {what} ({code})")
        if isinstance(error, ssl.SSLCertVerificationError):
            return PermanentBackendError(f"{where}: TLS certificate not trusted (ftp_ca_file?)")
        if isinstance(error, socket.gaierror):
            return PermanentBackendError(f"{where}: cannot resolve host {self.host}")
        if isinstance(error, (OSError, EOFError, ftplib.Error)):
            return TransientBackendError(f"{where}: {type(error).__name__} on {what}")
        return PermanentBackendError(f"{where}: {type(error).__name__} on {what}")

    def _path(self, name: str) -> str:
        validate_name(name)
        return f"{self.root.rstrip('/')}/{name}"

    def _size(self, connection: _Connection, path: str) -> int | None:
        ftp = connection.ftp
        if not connection.binary:
            ftp.voidcmd("TYPE I")  # "550 SIZE not allowed in ASCII mode" otherwise
            connection.binary = True
        try:
            return int(ftp.sendcmd(f"SIZE {path}")[3:])  # "213 <size>"
        except ftplib.error_perm as error:
            if _code(error) == "550":
                return None
            raise

    def _ensure_dir(self, ftp: ftplib.FTP, directory: str) -> None:
        parts = [part for part in directory.split("/") if part]
        for depth in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:depth])
            if path not in self._made_dirs:
                with suppress(ftplib.error_perm):  # exists, or not allowed: STOR will say
                    ftp.mkd(path)
                self._made_dirs.add(path)

    def _read(self, connection: _Connection, path: str, offset: int, length: int | None) -> bytes:
        ftp = connection.ftp
        size = self._size(connection, path)
        if size is None:
            raise NotFoundError(f"{path} not found in {self.location()}")
        start = min(offset, size)
        end = size if length is None else min(size, offset + length)
        if end <= start:
            return b""
        want, got, to_eof, chunks = end - start, 0, end == size, []
        conn = ftp.transfercmd(f"RETR {path}", rest=start or None)
        try:
            while to_eof or got < want:
                block = conn.recv(_BLOCK if to_eof else min(_BLOCK, want - got))
                if not block:
                    break
                chunks.append(block)
                got += len(block)
            if to_eof and isinstance(conn, ssl.SSLSocket):
                conn.unwrap()
        finally:
            conn.close()
        try:
            ftp.voidresp()  # 226, or 426 after a transfer we cut short on purpose
        except Exception as error:
            connection.broken = not isinstance(error, _PROTOCOL_ERRORS)
            if to_eof:
                raise
        if got != want:
            raise TransientBackendError(f"{self._where()}: short read of {path}")
        return b"".join(chunks)

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        path = self._path(name)
        directory = path.rsplit("/", 1)[0] or "/"
        name_lock = self._name_locks[hash(name) % _NAME_LOCKS]
        with self._errors(name), name_lock, self._session() as connection:
            ftp = connection.ftp
            self._ensure_dir(ftp, directory)
            if not overwrite and self._exists_same(connection, path, name, data):
                return
            tmp = f"{directory.rstrip('/')}/{TEMP_PREFIX}{secrets.token_hex(8)}"
            ftp.storbinary(f"STOR {tmp}", io.BytesIO(data), blocksize=_BLOCK)
            renamed = False
            try:
                if overwrite or not self._exists_same(connection, path, name, data):
                    try:
                        ftp.rename(tmp, path)
                    except ftplib.error_perm:
                        if not overwrite or self._size(connection, path) is None:
                            raise
                        ftp.delete(path)  # a server that refuses to rename onto a file
                        ftp.rename(tmp, path)
                    renamed = True
            finally:
                if not renamed:
                    with suppress(Exception):
                        ftp.delete(tmp)

    def _exists_same(self, connection: _Connection, path: str, name: str, data: bytes) -> bool:
        """False if ``path`` is absent, True if it holds ``data``, else AlreadyExistsError."""
        size = self._size(connection, path)
        if size is None:
            return False
        if size == len(data) and self._read(connection, path, 0, None) == data:
            return True
        raise AlreadyExistsError(f"{name} already exists in {self.location()}")

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(name)
        with self._errors(name), self._session() as connection:
            return self._read(connection, path, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        path = self._path(name)
        with self._errors(name), self._session() as connection:
            size = self._size(connection, path)
            if size is None:
                raise NotFoundError(f"{name} not found in {self.location()}")
            return ObjectInfo(name, size)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        found: list[ObjectInfo] = []
        with self._errors(prefix or "listing"), self._session() as connection:
            self._walk(connection, base, prefix, found)
        yield from found

    def _walk(
        self,
        connection: _Connection,
        rel: str,
        prefix: str,
        out: builtins.list[ObjectInfo],
        *,
        temporary: bool = False,
    ) -> None:
        """Collect the objects below ``rel`` whose names start with ``prefix``: the finished
        ones, or with ``temporary`` only the ``.tmp-*`` files unfinished puts left."""
        directory = f"{self.root.rstrip('/')}/{rel}" if rel else self.root
        entries = self._entries(connection, directory)
        for filename, is_dir, size in entries:
            name = f"{rel}/{filename}" if rel else filename
            if is_dir:
                if (name + "/").startswith(prefix) or prefix.startswith(name + "/"):
                    self._walk(connection, name, prefix, out, temporary=temporary)
            elif filename.startswith(TEMP_PREFIX) == temporary and name.startswith(prefix):
                out.append(ObjectInfo(name, size))

    def list_temporary(self) -> Iterator[TemporaryObject]:
        """Every ``.tmp-*`` file under the root, aged by the server's ``MDTM`` time.

        A server without ``MDTM`` reports age 0 for each, so they are listed (and
        reported by ``check``) but never old enough for ``prune`` to remove.
        """
        found: list[ObjectInfo] = []
        with self._errors("listing"), self._session() as connection:
            self._walk(connection, "", "", found, temporary=True)
            ages = [self._age(connection, self._path(info.name)) for info in found]
        for info, age in zip(found, ages, strict=True):
            yield TemporaryObject(info.name, info.size, age)

    def _age(self, connection: _Connection, path: str) -> float:
        try:
            reply = connection.ftp.voidcmd(f"MDTM {path}")
            stamp = reply.split()[-1][:14]
            written = calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S"))
        except (ftplib.Error, ValueError, IndexError):
            return 0.0
        return max(0.0, time.time() - written)

    def delete_temporary(self, name: str) -> None:
        """Remove one ``.tmp-*`` file (``ValueError`` for any other name)."""
        if not is_temporary_name(name):
            raise ValueError(f"{name!r} is not a temporary object")
        self.delete(name)

    def _entries(
        self, connection: _Connection, directory: str
    ) -> builtins.list[tuple[str, bool, int]]:
        """(name, is_dir, size) of a directory; empty if it does not exist."""
        ftp = connection.ftp
        connection.binary = False  # MLSD and LIST go through retrlines: TYPE A
        try:
            if self._mlsd:
                try:
                    entries = ftp.mlsd(directory, facts=["type", "size"])
                    return [
                        (filename, facts["type"].lower() == "dir", int(facts.get("size") or 0))
                        for filename, facts in entries
                        if facts.get("type", "").lower() in ("file", "dir")
                    ]
                except ftplib.error_perm as error:
                    if _code(error) not in ("500", "501", "502", "504"):
                        raise
                    self._mlsd = False
            lines: list[str] = []
            ftp.retrlines(f"LIST {directory}", lines.append)
            return [entry for entry in map(parse_list_line, lines) if entry is not None]
        except ftplib.error_perm as error:
            if _code(error) == "550":
                return []
            raise

    def delete(self, name: str) -> None:
        path = self._path(name)
        with self._errors(name), self._session() as connection:
            try:
                connection.ftp.delete(path)
            except ftplib.error_perm as error:
                if _code(error) == "550" and self._size(connection, path) is None:
                    raise NotFoundError(f"{name} not found in {self.location()}") from None
                raise

    def close(self) -> None:
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def parse_list_line(line: str) -> tuple[str, bool, int] | None:
    """Parse one Unix-style ``LIST`` line into (name, is_dir, size); None for others."""
    parts = line.split(None, 8)
    if len(parts) < 9 or parts[0][:1] not in "-d" or not parts[4].isdigit():
        return None  # totals, symlinks, devices, unknown formats
    if parts[8] in (".", ".."):
        return None
    return parts[8], parts[0].startswith("d"), int(parts[4])


def from_url(url: str, options: BackendOptions) -> FTPBackend:
    """Open ``ftp[s]://user[:password]@host[:port]/path`` (settings: ``ftp_ca_file``,
    ``ftp_connections``, ``ftp_timeout``; the password from the URL or the ``SecretStr``
    setting ``ftp_password``, which the config resolver takes from ``KEYARK_FTP_PASSWORD``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ftp", "ftps") or not parts.hostname:
        raise UsageError("an FTP repository URL looks like ftp[s]://user@host[:port]/path")
    try:
        port = parts.port or 21
    except ValueError:
        raise UsageError(f"the port in the {scheme}:// URL is not a number") from None
    settings = options.settings
    password = secret_setting(settings, "ftp_password") or ""
    if parts.password is not None:
        password = unquote(parts.password)
    return FTPBackend(
        parts.hostname,
        unquote(parts.path),
        port=port,
        user=unquote(parts.username) if parts.username else "anonymous",
        password=password,
        tls=scheme == "ftps",
        ca_file=str(settings["ftp_ca_file"]) if settings.get("ftp_ca_file") else None,
        connections=int(settings.get("ftp_connections", DEFAULT_CONNECTIONS)),
        timeout=float(settings.get("ftp_timeout", DEFAULT_TIMEOUT)),
    )
