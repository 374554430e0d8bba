"""A keyark server over TLS for the fleet tests: a self-signed certificate for 127.0.0.1
and ``create_app`` under uvicorn in a thread, on a port that can be used again."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.conformance.certs import certificate_pem
from tests.server_fixtures import free_socket

from keyark.server.app import create_app
from keyark.server.settings import ServerSettings


def self_signed(directory: Path, name: str) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file, SHA-256 of its DER)."""
    cert, key = certificate_pem()
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    return cert_file, key_file, hashlib.sha256(der).hexdigest()


@contextmanager
def tls_server(settings: ServerSettings, port: int | None = None) -> Iterator[str]:
    """Serve ``create_app(settings)`` (the real token store) over TLS on ``port`` (None: one
    the OS chooses); yields the URL."""
    app = create_app(settings)
    if port is None:
        sock = free_socket()
    else:  # a server started again where an earlier one listened
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        ssl_certfile=str(settings.tls_cert),
        ssl_keyfile=str(settings.tls_key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        app.state.keyark.tasks.cancel_all()
        server.should_exit = True
        thread.join(30)
        sock.close()


__all__ = ["self_signed", "tls_server"]
