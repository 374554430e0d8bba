"""The daemon's ``/metrics`` endpoint: a small threaded WSGI server, basic auth and TLS
optional.

Each request collects afresh (the collector caches what is costly). With
``basic_auth_user`` a request without the right user and password gets 401 (compared in
constant time); with ``tls_cert``/``tls_key`` every connection is TLS, its handshake
done in the connection's own thread (a client that never finishes one holds up no
other). The server never stops the daemon: an address in use or an unreadable password
file is logged and the daemon runs without metrics.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from keyark.config.document import KeyarkConfig
from keyark.config.listen import listen_address
from keyark.config.metrics import MetricsSection
from keyark.metrics.repository import RepositoryFactsCache
from keyark.state.runs import RunStore

if TYPE_CHECKING:  # prometheus_client (extra "monitor") loads when metrics are served
    from prometheus_client.registry import CollectorRegistry

#: Seconds a client has to finish the TLS handshake and send its request.
CLIENT_TIMEOUT = 30.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


class MetricsServerError(Exception):
    """The metrics endpoint could not start (address in use, unreadable file)."""


def metrics_app(registry: CollectorRegistry, credentials: bytes | None = None) -> App:
    """A WSGI app serving ``registry`` on ``/metrics`` (and ``/``); with ``credentials``
    (``user:password``) only to requests whose basic auth matches."""
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if credentials is not None and not _authorized(environ, credentials):
            headers = [("WWW-Authenticate", 'Basic realm="keyark"'), ("Content-Type", "text/plain")]
            start_response("401 Unauthorized", headers)
            return [b"unauthorized\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b"use GET\n"]
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"metrics are on /metrics\n"]
        output = generate_latest(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else output]

    return app


def _authorized(environ: Environ, credentials: bytes) -> bool:
    scheme, _, encoded = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, credentials)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing per request."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handle one connection (in its own thread), doing its TLS handshake first."""
        request.settimeout(CLIENT_TIMEOUT)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            secured = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # a failed handshake ends this connection only
        try:
            super().finish_request(secured, client_address)
        finally:
            secured.close()


class MetricsServer:
    """A running endpoint: where it listens, and how to stop it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, *, tls: bool) -> None:
        self._server = server
        self._thread = thread
        self.tls = tls

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen when the config said 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http(s)://host:port/metrics``."""
        host = str(self._server.server_address[0])
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(app: App, section: MetricsSection) -> MetricsServer:
    """Serve ``app`` on ``section.listen`` in a daemon thread (TLS when configured)."""
    address = listen_address(section.listen)
    try:
        family = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0][0]
    except socket.gaierror as error:
        raise MetricsServerError(f"cannot listen on {address}: {error}") from error

    class Server(_Server):
        address_family = family

    Server.tls = _tls_context(section)
    try:
        httpd = make_server(address.host, address.port, app, Server, _QuietHandler)
    except OSError as error:
        raise MetricsServerError(f"cannot listen on {address}: {error.strerror}") from error
    thread = threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True)
    thread.start()
    return MetricsServer(httpd, thread, tls=Server.tls is not None)


def _tls_context(section: MetricsSection) -> ssl.SSLContext | None:
    if section.tls_cert is None or section.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(section.tls_cert, section.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise MetricsServerError(
            f"cannot load the TLS certificate {section.tls_cert} and key {section.tls_key}: "
            f"{getattr(error, 'strerror', None) or error}"
        ) from error
    return context


def basic_auth_credentials(section: MetricsSection) -> bytes | None:
    """``user:password`` from the config (the password read from its file), or None."""
    if section.basic_auth_user is None or section.basic_auth_password_file is None:
        return None
    path = Path(section.basic_auth_password_file).expanduser()
    try:
        password = path.read_bytes().rstrip(b"\r\n")
    except OSError as error:
        raise MetricsServerError(
            f"cannot read the metrics password file {path}: {error.strerror}"
        ) from error
    if not password:
        raise MetricsServerError(f"the metrics password file {path} is empty")
    return section.basic_auth_user.encode() + b":" + password


class _LoggedOnce:
    """Logs a source's problem when it changes, not at every scrape."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, subject: str, message: str) -> None:
        with self._lock:
            if self._last.get(subject) == message:
                return
            self._last[subject] = message
        self._logger.warning("metrics: %s", message)


def start_metrics_server(
    config: Callable[[], KeyarkConfig], store: RunStore, logger: logging.Logger
) -> MetricsServer | None:
    """Serve the metrics of ``config()`` (called at each scrape, so a reload is seen)
    and ``store`` on ``metrics.listen``; None when metrics are off or the endpoint
    cannot start (logged: the daemon goes on without it).

    Repository facts are read again at most once per ``monitor.interval``.
    """
    section = config().metrics
    if not section.enabled:
        return None
    try:
        from keyark.metrics.collector import KeyarkCollector, registry_of
    except ImportError as error:
        logger.error(
            "metrics are not served: they need %s (pip install 'keyark[monitor]')", error.name
        )
        return None
    interval = config().monitor.interval.total_seconds()
    cache = RepositoryFactsCache(interval)
    collector = KeyarkCollector(config, store, cache, warn=_LoggedOnce(logger))
    try:
        app = metrics_app(registry_of(collector), basic_auth_credentials(section))
        server = serve(app, section)
    except MetricsServerError as error:
        logger.error("metrics are not served: %s", error)
        return None
    logger.info("metrics on %s", server.url)
    return server
