"""What one ``keyark serve`` process serves: the config file, places, listen address, TLS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig


@dataclass(frozen=True)
class ServerSettings:
    """The server's settings, built by ``keyark serve`` (or a test) once at start-up."""

    #: The config file's document: repositories, jobs, monitor, audit.
    config: KeyarkConfig
    #: Where the config was read from (None: built in memory).
    config_path: Path | None
    #: The state directory: run history, alerts, the token and user stores.
    state_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8470
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Serve plain HTTP on a non-loopback address (the operator's explicit choice).
    insecure_http: bool = False
    #: Run the scheduler and the monitor in the same process.
    with_daemon: bool = False
    #: Restores to a server path must land under this directory (None: anywhere).
    restore_root: Path | None = None

    @property
    def tls(self) -> bool:
        """Whether the server speaks HTTPS."""
        return self.tls_cert is not None and self.tls_key is not None


__all__ = ["ServerSettings"]
