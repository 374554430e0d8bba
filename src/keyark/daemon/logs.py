"""The daemon's log: standard error, a log file (0600) and, when configured, syslog.

Every record passes :class:`~keyark.redaction.RedactingFilter` first, so a secret that
reaches a message (a URL with a password, a token in an error) is masked in every
place the log goes. The file handler reopens the file when it is rotated away
(logrotate's ``create`` mode), so no ``copytruncate`` is needed.

Syslog targets (``scheduler.syslog.address``): ``udp://host:514``,
``tcp://host:601`` or the path of a local socket (``/dev/log``).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from keyark.errors import UsageError
from keyark.redaction import RedactingFilter

#: The logger every daemon module logs to (the scheduler's runs included).
LOGGER_NAME = "keyark.daemon"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SYSLOG_FORMAT = "keyark[%(process)d]: %(levelname)s %(name)s: %(message)s"


class _DaemonHandler:
    """Marks the handlers this module added (so a reconfigure replaces, never stacks)."""


class _FileHandler(logging.handlers.WatchedFileHandler, _DaemonHandler):
    pass


class _StreamHandler(logging.StreamHandler, _DaemonHandler):  # type: ignore[type-arg]
    pass


class _SyslogHandler(logging.handlers.SysLogHandler, _DaemonHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        """A syslog that went away loses its lines quietly (the file still has them)."""


@dataclass(frozen=True)
class SyslogAddress:
    """Where syslog messages go: a ``(host, port)`` over UDP or TCP, or a socket path."""

    address: str | tuple[str, int]
    socktype: socket.SocketKind | None


def parse_syslog_address(text: str) -> SyslogAddress:
    """``udp://host:port``, ``tcp://host:port`` or a socket path -> :class:`SyslogAddress`."""
    if "://" not in text:
        if not text.startswith("/"):
            raise UsageError(
                f"syslog address {text!r}: give udp://host:port, tcp://host:port "
                "or the absolute path of a socket (/dev/log)"
            )
        return SyslogAddress(text, None)
    parts = urlsplit(text)
    kinds = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}
    if parts.scheme not in kinds or not parts.hostname:
        raise UsageError(f"syslog address {text!r}: the scheme is udp:// or tcp:// with a host")
    try:
        port = parts.port or 514
    except ValueError:
        raise UsageError(f"syslog address {text!r}: the port is not a number") from None
    return SyslogAddress((parts.hostname, port), kinds[parts.scheme])


def facility_code(name: str) -> int:
    """A syslog facility name (``daemon``, ``local0``) -> its code."""
    code = logging.handlers.SysLogHandler.facility_names.get(name.lower())
    if code is None:
        known = ", ".join(sorted(logging.handlers.SysLogHandler.facility_names))
        raise UsageError(f"syslog facility {name!r} is not one of {known}")
    return code


def open_log_file(path: Path) -> Path:
    """Create ``path`` (0600; its directory 0700 when missing), or make an existing one 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def same_file(stream: object, path: Path) -> bool:
    """Whether ``stream`` (standard error) already writes to ``path`` (a background daemon)."""
    fileno = getattr(stream, "fileno", None)
    if fileno is None:
        return False
    try:
        mine = os.fstat(fileno())
        theirs = os.stat(path)
    except (OSError, ValueError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def configure(
    log_file: Path,
    *,
    syslog_address: str | None = None,
    syslog_facility: str = "daemon",
    debug: bool = False,
    stream: object | None = None,
) -> logging.Logger:
    """Send keyark's log to ``stream`` (standard error), ``log_file`` and syslog.

    The daemon's own logger logs at INFO (DEBUG with ``debug``), the rest of keyark at
    WARNING. Standard error is left out when it already is the log file (a daemon
    started in the background writes its output there). A syslog target that cannot be
    reached is reported in the log, which then goes to the other places only.
    Returns the daemon's logger.
    """
    stream = sys.stderr if stream is None else stream
    keyark_logger = logging.getLogger("keyark")
    for old in [h for h in keyark_logger.handlers if isinstance(h, _DaemonHandler)]:
        keyark_logger.removeHandler(old)
        old.close()
    keyark_logger.propagate = False
    _saved_levels.setdefault("keyark", keyark_logger.level)
    _saved_levels.setdefault(LOGGER_NAME, logging.getLogger(LOGGER_NAME).level)
    keyark_logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)

    handlers: list[logging.Handler] = [_FileHandler(open_log_file(log_file), encoding="utf-8")]
    if not same_file(stream, log_file):
        handlers.append(_StreamHandler(stream))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
    problem = None
    if syslog_address is not None:
        target = parse_syslog_address(syslog_address)
        facility = facility_code(syslog_facility)
        try:
            if isinstance(target.address, str) and not Path(target.address).is_socket():
                raise FileNotFoundError(f"{target.address} is not a socket")
            syslog = _SyslogHandler(target.address, facility, target.socktype)
        except OSError as error:
            problem = f"syslog {syslog_address} cannot be reached ({error}); not logging there"
        else:
            syslog.setFormatter(logging.Formatter(_SYSLOG_FORMAT))
            handlers.append(syslog)
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        keyark_logger.addHandler(handler)
    if problem:
        logger.warning(problem)
    return logger


def close() -> None:
    """Remove and close the handlers :func:`configure` added; restore the levels."""
    keyark_logger = logging.getLogger("keyark")
    for old in [h for h in keyark_logger.handlers if isinstance(h, _DaemonHandler)]:
        keyark_logger.removeHandler(old)
        old.close()
    keyark_logger.propagate = True
    for name, level in _saved_levels.items():
        logging.getLogger(name).setLevel(level)
    _saved_levels.clear()


#: The levels :func:`configure` changed, as they were (restored by :func:`close`).
_saved_levels: dict[str, int] = {}
