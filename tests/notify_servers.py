"""Real servers on loopback for the notification channels, as pytest fixtures.

- :func:`tls_files`: a self-signed certificate for ``127.0.0.1``/``localhost``
  (made with ``cryptography``), its key, and the certificate as the CA file.
- :func:`smtp_server`: aiosmtpd requiring STARTTLS and AUTH (LOGIN and PLAIN), keeping
  every message with the login and mechanism used.
- :func:`http_listener`: ``http.server`` in a thread keeping every request (path,
  headers, body); answers with the statuses queued in ``answers`` (default 200).
- :func:`syslog_udp` / :func:`syslog_tcp`: listeners keeping each syslog message
  (TCP: RFC 6587 octet-counted frames); :func:`parse_rfc5424` splits one.

Each server has ``wait_for(count, timeout)``: the test waits for what arrived, not
for a fixed time.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.conformance.certs import self_signed

SMTP_USER = "keyark"
SMTP_PASSWORD = "smtp-pass-7Qx2"


class _Inbox:
    """Items that arrived, and a condition to wait for them."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.condition = threading.Condition()

    def add(self, item: Any) -> None:
        with self.condition:
            self.items.append(item)
            self.condition.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        """The items once at least ``count`` arrived (AssertionError after ``timeout``)."""
        with self.condition:
            arrived = self.condition.wait_for(lambda: len(self.items) >= count, timeout)
            assert arrived, f"{len(self.items)} of {count} expected items arrived in {timeout}s"
            return list(self.items)


# ----------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TLSFiles:
    """A self-signed certificate (also the CA file to trust) and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context with this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A certificate for 127.0.0.1 and localhost (tests/conformance/certs.py)."""
    return TLSFiles(*self_signed(tmp_path_factory.mktemp("tls")))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- SMTP


@dataclass
class Mail:
    """One message the SMTP server accepted."""

    sender: str
    recipients: list[str]
    message: Message
    login: str | None
    tls: bool


@dataclass
class SMTPServer:
    """A running aiosmtpd server."""

    port: int
    inbox: _Inbox
    mechanisms: list[str] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        """The messages once ``count`` arrived."""
        return self.inbox.wait_for(count, timeout)


class _MailHandler:
    def __init__(self, inbox: _Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth = session.auth_data
        login = auth.login.decode() if auth is not None else None
        self.inbox.add(
            Mail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.original_content or envelope.content),
                login,
                session.ssl is not None  # STARTTLS
                or server.transport.get_extra_info("ssl_object") is not None,  # SMTPS
            )
        )
        return "250 OK"


def _authenticator(mechanisms: list[str]) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        mechanisms.append(mechanism)
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data)

    return check


def start_smtp(
    tls: TLSFiles, *, exclude: list[str] | None = None, implicit: bool = False
) -> tuple[Any, SMTPServer]:
    """An SMTP server requiring STARTTLS (``implicit``: TLS from the start, SMTPS), then
    AUTH (every mechanism but ``exclude``)."""
    inbox = _Inbox()
    server = SMTPServer(free_port(), inbox)
    controller = _controller(tls, server, inbox, exclude or [], implicit)
    controller.start()
    return controller, server


def _controller(
    tls: TLSFiles, server: SMTPServer, inbox: _Inbox, exclude: list[str], implicit: bool
) -> Any:
    from aiosmtpd.controller import Controller

    return Controller(
        _MailHandler(inbox),
        hostname="127.0.0.1",
        port=server.port,
        ssl_context=tls.server_context() if implicit else None,
        tls_context=None if implicit else tls.server_context(),
        require_starttls=not implicit,
        auth_required=True,
        auth_require_tls=not implicit,  # aiosmtpd counts only STARTTLS as TLS here
        authenticator=_authenticator(server.mechanisms),
        auth_exclude_mechanism=exclude,
    )


@pytest.fixture
def smtp_server(tls_files: TLSFiles) -> Iterator[SMTPServer]:
    """SMTP on 127.0.0.1 with STARTTLS and AUTH LOGIN/PLAIN."""
    controller, server = start_smtp(tls_files)
    try:
        yield server
    finally:
        controller.stop()


# ---------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Request:
    """One request the HTTP listener received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HTTPListener:
    """A running HTTP listener."""

    port: int
    inbox: _Inbox
    #: Statuses to answer with, first to last; 200 once empty.
    answers: list[int] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:PORT/path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """The requests once ``count`` arrived."""
        return self.inbox.wait_for(count, timeout)


def _http_handler(listener: HTTPListener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = listener.answers.pop(0) if listener.answers else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"refused by the test")
            headers = {key.lower(): value for key, value in self.headers.items()}
            listener.inbox.add(Request("POST", self.path, headers, body))

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def http_listener() -> Iterator[HTTPListener]:
    """HTTP on 127.0.0.1 keeping every POST."""
    listener = HTTPListener(0, _Inbox())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(listener))
    listener.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()


# -------------------------------------------------------------------------- syslog


@dataclass
class SyslogListener:
    """A running syslog listener (``udp`` or ``tcp``)."""

    scheme: str
    port: int
    inbox: _Inbox

    @property
    def address(self) -> str:
        """The channel's ``address`` for this listener."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """The messages once ``count`` arrived."""
        return self.inbox.wait_for(count, timeout)


@pytest.fixture
def syslog_udp() -> Iterator[SyslogListener]:
    """A UDP syslog receiver on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    listener = SyslogListener("udp", int(sock.getsockname()[1]), _Inbox())
    stop = threading.Event()

    def receive() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            listener.inbox.add(data)

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def read_frames(stream: Any) -> Iterator[bytes]:
    """RFC 6587 octet-counted frames (``LEN SP MSG``) from a binary stream."""
    while True:
        length = b""
        while (char := stream.read(1)) not in (b" ", b""):
            length += char
        if not length:
            return
        yield stream.read(int(length))


@pytest.fixture
def syslog_tcp() -> Iterator[SyslogListener]:
    """A TCP syslog receiver (octet counting) on 127.0.0.1."""
    inbox = _Inbox()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for frame in read_frames(self.rfile):
                inbox.add(frame)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    listener = SyslogListener("tcp", int(server.server_address[1]), inbox)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()


_RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<timestamp>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+)"
    rb" (?P<msgid>\S+) (?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+) (?P<msg>.*)$",
    re.DOTALL,
)
_SD_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_rfc5424(data: bytes) -> dict[str, Any]:
    """One RFC 5424 message's fields: facility, severity, header fields, structured
    data parameters (``sd``) and the message (BOM removed). Fails on a bad message."""
    match = _RFC5424.match(data)
    assert match is not None, f"not an RFC 5424 message: {data!r}"
    pri = int(match["pri"])
    message = match["msg"]
    assert message.startswith(b"\xef\xbb\xbf"), "a UTF-8 message starts with a BOM"
    sd_text = match["sd"].decode()
    params = {key: re.sub(r"\\(.)", r"\1", value) for key, value in _SD_PARAM.findall(sd_text)}
    return {
        "facility": pri // 8,
        "severity": pri % 8,
        "timestamp": dt.datetime.fromisoformat(match["timestamp"].decode()),
        "host": match["host"].decode(),
        "app": match["app"].decode(),
        "procid": match["procid"].decode(),
        "msgid": match["msgid"].decode(),
        "sd_id": sd_text[1:].split(" ", 1)[0] if sd_text != "-" else None,
        "sd": params,
        "msg": message[3:].decode(),
    }
