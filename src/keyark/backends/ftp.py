"""FTP and explicit-TLS FTPS backend (ftplib): ``ftp[s]://user[:password]@host[:port]/path``.

The path is absolute on the server; the password comes from the URL or the setting
``ftp_password`` (the config resolver fills it from ``KEYARK_FTP_PASSWORD``);
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

import calendar
import ftplib
import io
import socket
import ssl
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from keyark.backends.file_server import DirectoryEntry, FileServerBackend
from keyark.backends.registry import BackendOptions, secret_setting
from keyark.errors import (
    KeyarkError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
    UsageError,
)

DEFAULT_CONNECTIONS = 4
DEFAULT_TIMEOUT = 30.0
_BLOCK = 256 * 1024
_IDLE_CHECK_SECONDS = 20.0
_NAME_LOCKS = 64
_PROTOCOL_ERRORS = (ftplib.error_perm, ftplib.error_temp)
#: What leaves a session in a known state: a clean refusal or keyark's own error.
_CLEAN_REPLIES = (KeyarkError, *_PROTOCOL_ERRORS)


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
    """One logged-in control connection (a pooled connection)."""

    ftp: ftplib.FTP
    last_used: float = field(default_factory=time.monotonic)
    broken: bool = False
    #: Listing switches the session to ASCII; SIZE needs binary (TYPE I) again.
    binary: bool = True

    def usable(self) -> bool:
        """Servers drop idle sessions: one idle for a while must answer ``NOOP``."""
        if time.monotonic() - self.last_used <= _IDLE_CHECK_SECONDS:
            return True
        try:
            self.ftp.voidcmd("NOOP")
        except Exception:
            return False
        return True

    def keep(self, error: BaseException | None) -> bool:
        """Pooled again after success or a clean reply (the session is in a known state)."""
        if self.broken or not (error is None or isinstance(error, _CLEAN_REPLIES)):
            return False
        self.last_used = time.monotonic()
        return True

    def close(self) -> None:
        with suppress(Exception):
            self.ftp.close()


def _code(error: BaseException) -> str:
    return str(error)[:3]


class FTPBackend(FileServerBackend[_Connection]):
    """A repository in a directory on an FTP or FTPS server."""

    atomic_replace = False  # RNTO onto a file is refused by some servers: DELE, then RNTO
    transient_errors = (OSError, EOFError, ftplib.Error)

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
        self.kind = "ftps" if tls else "ftp"
        super().__init__("/" + path.strip("/"), connections)
        self._name_locks = [threading.Lock() for _ in range(_NAME_LOCKS)]
        self._mlsd = True

    def location(self) -> str:
        """``ftp[s]://user@host:port/path`` (never the password)."""
        return f"{self.kind}://{self.user}@{self.host}:{self.port}{self.root}"

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

    def _classify(self, error: Exception, what: str, *, container: bool) -> KeyarkError | None:
        where = self._where()
        code = _code(error) if isinstance(error, ftplib.Error) else ""
        if code in ("452", "552"):
            return PermanentBackendError(f"{where}: storage full or quota exceeded ({what})")
        if isinstance(error, ftplib.error_perm):
            return PermanentBackendError(f"{where}: server refused {what} ({code})")
        if isinstance(error, ftplib.error_temp):
            return TransientBackendError(f"{where}: temporary failure on {what} ({code})")
        if isinstance(error, ssl.SSLCertVerificationError):
            return PermanentBackendError(
                f"{where}: TLS certificate not trusted (check the FTP CA file)"
            )
        if isinstance(error, socket.gaierror):
            return PermanentBackendError(f"{where}: cannot resolve host {self.host}")
        return None

    # -- file requests ---------------------------------------------------------------
    def _file_size(self, session: _Connection, path: str) -> int | None:
        ftp = session.ftp
        if not session.binary:
            ftp.voidcmd("TYPE I")  # "550 SIZE not allowed in ASCII mode" otherwise
            session.binary = True
        try:
            return int(ftp.sendcmd(f"SIZE {path}")[3:])  # "213 <size>"
        except ftplib.error_perm as error:
            if _code(error) == "550":
                return None
            raise

    def _read(self, session: _Connection, path: str, offset: int, length: int | None) -> bytes:
        ftp = session.ftp
        size = self._file_size(session, path)
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
            session.broken = not isinstance(error, _PROTOCOL_ERRORS)
            if to_eof:
                raise
        if got != want:
            raise TransientBackendError(f"{self._where()}: short read of {path}")
        return b"".join(chunks)

    def _entries(self, session: _Connection, directory: str) -> list[DirectoryEntry]:
        ftp = session.ftp
        session.binary = False  # MLSD and LIST go through retrlines: TYPE A
        try:
            if self._mlsd:
                try:
                    entries = ftp.mlsd(directory, facts=["type", "size"])
                    return [
                        DirectoryEntry(
                            filename, facts["type"].lower() == "dir", int(facts.get("size") or 0)
                        )
                        for filename, facts in entries
                        if facts.get("type", "").lower() in ("file", "dir")
                    ]
                except ftplib.error_perm as error:
                    if _code(error) not in ("500", "501", "502", "504"):
                        raise
                    self._mlsd = False
            lines: list[str] = []
            ftp.retrlines(f"LIST {directory}", lines.append)
            parsed = (parse_list_line(line) for line in lines)
            return [DirectoryEntry(*entry) for entry in parsed if entry is not None]
        except ftplib.error_perm as error:
            if _code(error) == "550":
                return []
            raise

    def _modified(self, session: _Connection, path: str) -> float | None:
        """The server's ``MDTM`` time (None from a server without it)."""
        try:
            reply = session.ftp.voidcmd(f"MDTM {path}")
            stamp = reply.split()[-1][:14]
            return float(calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S")))
        except (ftplib.Error, ValueError, IndexError):
            return None

    def _remove(self, session: _Connection, path: str, name: str) -> None:
        try:
            session.ftp.delete(path)
        except ftplib.error_perm as error:
            if _code(error) == "550" and self._file_size(session, path) is None:
                raise self._not_found(name) from None
            raise

    def _ensure_dir(self, session: _Connection, directory: str) -> None:
        parts = [part for part in directory.split("/") if part]
        for depth in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:depth])
            if path not in self._made_dirs:
                with suppress(ftplib.error_perm):  # exists, or not allowed: STOR will say
                    session.ftp.mkd(path)
                self._made_dirs.add(path)

    def _write_temporary(self, session: _Connection, tmp: str, data: bytes) -> None:
        session.ftp.storbinary(f"STOR {tmp}", io.BytesIO(data), blocksize=_BLOCK)

    def _rename_into_place(
        self, session: _Connection, tmp: str, path: str, name: str, data: bytes, *, overwrite: bool
    ) -> bool:
        """Without ``overwrite``, look for the target just before ``RNFR``/``RNTO`` (FTP has
        no create-if-absent). A server that refuses to rename onto a file gets ``DELE``
        first: not atomic, hence ``atomic_replace=False``."""
        if not overwrite and self._existing(session, path, name, data):
            return False
        ftp = session.ftp
        try:
            ftp.rename(tmp, path)
        except ftplib.error_perm:
            if not overwrite or self._file_size(session, path) is None:
                raise
            ftp.delete(path)
            ftp.rename(tmp, path)
        return True

    def _discard(self, session: _Connection, tmp: str) -> None:
        with suppress(Exception):
            session.ftp.delete(tmp)

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        """As :meth:`FileServerBackend.put`; puts of one name are serialised within this
        process, since the check for an existing object and the rename are two requests."""
        with self._name_locks[hash(name) % _NAME_LOCKS]:
            super().put(name, data, overwrite=overwrite)


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
