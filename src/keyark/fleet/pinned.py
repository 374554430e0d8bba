"""HTTPS to the server with its certificate pinned: the SHA-256 of the certificate the
server presented at enrolment.

The first connection (enrolment, nothing pinned yet) takes the certificate the TLS
handshake presents (trust on first use, or a fingerprint the operator gave); every
later connection compares the presented certificate with the pin *before* any request
byte (and so any token) is sent, and refuses a different one.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from keyark.errors import CertificatePinError, UsageError

#: Seconds to wait for the server.
TIMEOUT = 60.0


def fingerprint_of(certificate: bytes) -> str:
    """The pin of a DER certificate: its SHA-256, lower-case hex."""
    return hashlib.sha256(certificate).hexdigest()


def normal_fingerprint(text: str) -> str:
    """A fingerprint as given (``AB:CD:...`` or hex) in the stored form."""
    value = text.replace(":", "").strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise UsageError("a certificate fingerprint is 64 hex digits (SHA-256)")
    return value


@dataclass(frozen=True)
class Answer:
    """A server's answer: status, headers (lower-case names) and JSON body (or None)."""

    status: int
    headers: dict[str, str]
    body: Any


def _endpoint(server: str) -> tuple[str, int, str]:
    parts = urlsplit(server)
    if parts.scheme != "https" or not parts.hostname:
        raise UsageError(f"the server address must be https://HOST[:PORT], not {server!r}")
    return parts.hostname, parts.port or 443, parts.path.rstrip("/")


def request(
    server: str,
    method: str,
    path: str,
    *,
    pin: str | None,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[Answer, str]:
    """``method path`` on ``server`` over HTTPS; the certificate must match ``pin`` (None:
    accept it, enrolment's first contact). Returns the answer and the certificate's pin.
    A server that cannot be reached raises :class:`OSError`."""
    host, port, prefix = _endpoint(server)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin is the check (a self-signed cert is normal)
    connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=context)
    try:
        connection.connect()
        sock = connection.sock
        certificate = (
            sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        )
        if not certificate:
            raise CertificatePinError(f"{host}:{port} presented no TLS certificate")
        seen = fingerprint_of(certificate)
        if pin is not None and seen != pin:
            raise CertificatePinError(
                f"the certificate of {host}:{port} (SHA-256 {seen}) is not the one pinned "
                f"at enrolment ({pin}); nothing was sent"
            )
        data = None if body is None else json.dumps(body).encode()
        sent = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        connection.request(method, prefix + path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Answer(response.status, answer_headers, parsed), seen


def problem_text(answer: Answer) -> str:
    """The server's reason for a refusal (its problem+json ``detail``) or the status."""
    if isinstance(answer.body, dict):
        detail = answer.body.get("detail") or answer.body.get("title")
        if isinstance(detail, str):
            return detail
    return f"HTTP {answer.status}"


__all__ = ["TIMEOUT", "Answer", "fingerprint_of", "normal_fingerprint", "problem_text", "request"]
