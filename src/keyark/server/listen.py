"""Serving: the loopback rule for plain HTTP, and uvicorn around the app.

Plain HTTP is served only on a loopback address (127.0.0.0/8, ::1, ``localhost``)
unless the operator allows it explicitly; elsewhere the server needs a TLS certificate
and key. ``serve`` runs uvicorn in this thread until SIGTERM/SIGINT (uvicorn's handlers
stop it gracefully), with the scheduler and monitor alongside when asked.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
from typing import TYPE_CHECKING

from keyark.errors import EXIT_OK, Hint, UsageError

if TYPE_CHECKING:
    from keyark.server.settings import ServerSettings

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) reaches this machine only."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def check_listen(settings: ServerSettings) -> None:
    """Refuse settings that would serve plain HTTP beyond this machine, or half of TLS."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise UsageError("TLS needs both a certificate and its private key", hint=Hint.SERVE_TLS)
    if not settings.tls and not settings.insecure_http and not is_loopback(settings.listen_host):
        raise UsageError(
            f"refusing to serve plain HTTP on {settings.listen_host}, which is not a loopback "
            "address: give a TLS certificate and key, or allow plain HTTP explicitly",
            hint=Hint.SERVE_TLS,
        )


def serve(settings: ServerSettings) -> int:
    """Serve until SIGTERM/SIGINT; the exit code (0 after a graceful stop)."""
    import uvicorn

    from keyark.server.app import create_app

    check_listen(settings)
    app = create_app(settings)
    daemon = None
    if settings.with_daemon:
        from keyark.server.embedded import EmbeddedDaemon

        daemon = EmbeddedDaemon(settings.config, settings.state_dir)
        daemon.start()
    config = uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level="info",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    stops = (signal.SIGTERM, signal.SIGINT)
    # uvicorn handles SIGTERM/SIGINT while it serves and raises the signal again to the
    # handler before it once stopped: ignoring it there makes a graceful stop exit 0
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in stops}
    try:
        uvicorn.Server(config).run()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        app.state.keyark.tasks.cancel_all()
        if daemon is not None:
            daemon.stop()
    return EXIT_OK


__all__ = ["check_listen", "is_loopback", "serve"]
