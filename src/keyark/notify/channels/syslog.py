"""Syslog: RFC 5424 messages over UDP, TCP (RFC 6587 octet counting) or a local socket."""

from __future__ import annotations

import errno
import os
import socket
from typing import TYPE_CHECKING

from keyark.monitor.model import Alert, Level
from keyark.notify.channels.base import DeliveryError, describe

if TYPE_CHECKING:
    from keyark.config.notifications import SyslogChannel

#: RFC 5424 severities: crit, warning, informational; resolved is a notice, unknown an error.
SEVERITIES = {Level.OK: 5, Level.INFO: 6, Level.WARNING: 4, Level.CRITICAL: 2, Level.UNKNOWN: 3}
#: The structured-data id (32473: the documentation enterprise number of RFC 5612).
SD_ID = "keyark@32473"
DEFAULT_PORTS = {"udp": 514, "tcp": 601}
#: The byte order mark RFC 5424 puts before a UTF-8 message.
BOM = b"\xef\xbb\xbf"


def _sd_value(text: str) -> str:
    """A structured-data parameter value with ``"``, ``\\`` and ``]`` escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_field(text: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most ``limit`` long."""
    cleaned = "".join(char if "!" <= char <= "~" else "_" for char in text)[:limit]
    return cleaned or "-"


def rfc5424(alert: Alert, *, facility: int, app_name: str, hostname: str | None = None) -> bytes:
    """``alert`` as one RFC 5424 message."""
    priority = facility * 8 + SEVERITIES[alert.level]
    timestamp = alert.time.astimezone().isoformat(timespec="microseconds")
    host = _header_field(hostname or socket.gethostname(), 255)
    structured = (
        f'[{SD_ID} key="{_sd_value(alert.key)}" level="{alert.level.label}"'
        f' kind="{_sd_value(alert.kind)}"'
        + (f' previous="{alert.previous.label}"' if alert.previous is not None else "")
        + "]"
    )
    header = (
        f"<{priority}>1 {timestamp} {host} {_header_field(app_name, 48)} {os.getpid()}"
        f" {_header_field(alert.kind, 32)} {structured} "
    )
    text = " ".join(f"{alert.title}: {alert.message}".split())
    return header.encode() + BOM + text.encode()


class SyslogSender:
    """Sends alerts to a syslog receiver."""

    def __init__(self, spec: SyslogChannel, name: str) -> None:
        from keyark.config.notifications import FACILITIES

        self.spec = spec
        self.name = name
        self.facility = FACILITIES[spec.facility]

    def send(self, alert: Alert) -> None:
        """Send ``alert`` as one message (UDP: handed to the network, not acknowledged)."""
        message = rfc5424(alert, facility=self.facility, app_name=self.spec.app_name)
        address = self.spec.address
        timeout = self.spec.timeout.total_seconds()
        try:
            if address.startswith("/"):
                _send_local(address, message, timeout)
            else:
                scheme, _, rest = address.partition("://")
                host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
                port = int(port_text) if port_text else DEFAULT_PORTS[scheme]
                if scheme == "udp":
                    _send_udp(host, port, message)
                else:
                    _send_tcp(host, port, message, timeout)
        except OSError as error:
            raise DeliveryError(f"cannot send to syslog at {address}: {describe(error)}") from None


def _send_udp(host: str, port: int, message: bytes) -> None:
    family, kind, proto, _, target = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.sendto(message, target)


def _send_tcp(host: str, port: int, message: bytes, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(f"{len(message)} ".encode() + message)


def _send_local(path: str, message: bytes, timeout: float) -> None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.send(message)
    except OSError as error:
        if error.errno != errno.EPROTOTYPE:
            raise
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
            stream.settimeout(timeout)
            stream.connect(path)
            stream.sendall(message + b"\n")
