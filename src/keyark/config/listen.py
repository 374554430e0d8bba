"""A listen address of the config file: ``host:port`` (``[::1]:9473`` for IPv6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListenAddress:
    """Where a server listens: a host name or address, and a port (0: any free one)."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def listen_address(text: str) -> ListenAddress:
    """Parse ``host:port`` or ``[v6-address]:port``; a ValueError says what is wrong."""
    host, separator, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        separator = ""  # a bare IPv6 address: its colons are not the port's
    if not separator or not host or not port_text.isdigit():
        raise ValueError(
            f"listen address {text!r} is not host:port (e.g. 127.0.0.1:9473 or [::1]:9473)"
        )
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"listen address {text!r}: port {port} is above 65535")
    return ListenAddress(host, port)
