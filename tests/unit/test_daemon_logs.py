"""The daemon's log (file 0600, standard error, syslog, redaction) and systemd readiness."""

from __future__ import annotations

import io
import logging
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyark.daemon import logs
from keyark.daemon.notify import notify
from keyark.errors import UsageError


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    logs.close()


def test_log_goes_to_the_file_0600_and_stderr_with_secrets_masked(tmp_path: Path) -> None:
    stream = io.StringIO()
    log_file = tmp_path / "state" / "daemon.log"
    logger = logs.configure(log_file, stream=stream)
    logger.info("start backup tls")
    logger.info("opening s3://user:hunter22secret@host/bucket")
    logging.getLogger("keyark.archiver").debug("not shown: core modules log at WARNING")
    logging.getLogger("keyark.archiver").warning("source /x unreadable")
    for handler in logging.getLogger("keyark").handlers:
        handler.flush()
    text = log_file.read_text()
    assert "start backup tls" in text and "source /x unreadable" in text
    assert "hunter22secret" not in text and "hunter22secret" not in stream.getvalue()
    assert "not shown" not in text
    assert "start backup tls" in stream.getvalue()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700


def test_an_existing_log_file_is_made_private(tmp_path: Path) -> None:
    log_file = tmp_path / "daemon.log"
    log_file.write_text("old\n")
    log_file.chmod(0o644)
    logs.configure(log_file, stream=io.StringIO())
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert log_file.read_text().startswith("old\n")  # appended, never truncated


def test_no_stderr_copy_when_stderr_is_the_log_file(tmp_path: Path) -> None:
    """A background daemon's output already goes to the log file: no line twice."""
    log_file = tmp_path / "daemon.log"
    with open(log_file, "a") as stream:
        logger = logs.configure(log_file, stream=stream)
        logger.info("only once")
        for handler in logging.getLogger("keyark").handlers:
            handler.flush()
    assert log_file.read_text().count("only once") == 1


def test_reconfigure_replaces_handlers(tmp_path: Path) -> None:
    logs.configure(tmp_path / "a.log", stream=io.StringIO())
    logs.configure(tmp_path / "b.log", stream=io.StringIO()).info("to b")
    assert "to b" not in (tmp_path / "a.log").read_text()


def test_syslog_over_udp(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        port = server.getsockname()[1]
        logger = logs.configure(
            tmp_path / "d.log",
            syslog_address=f"udp://127.0.0.1:{port}",
            syslog_facility="local3",
            stream=io.StringIO(),
        )
        logger.warning("job tls failed: token=abcdef123456")
        data = server.recv(4096).decode()
    priority = 19 * 8 + 4  # local3.warning
    assert data.startswith(f"<{priority}>keyark[")
    assert "job tls failed" in data and "abcdef123456" not in data


def test_syslog_over_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(5)
        logs.configure(tmp_path / "d.log", syslog_address=str(path), stream=io.StringIO()).info(
            "ready"
        )
        assert "ready" in server.recv(4096).decode()


def test_an_unreachable_syslog_socket_is_logged_not_fatal(tmp_path: Path) -> None:
    stream = io.StringIO()
    logs.configure(tmp_path / "d.log", syslog_address=str(tmp_path / "none.sock"), stream=stream)
    assert "cannot be reached" in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("syslog.example.org", "give udp://host:port"),
        ("http://host:514", "udp:// or tcp://"),
        ("udp://host:port", "port is not a number"),
    ],
)
def test_bad_syslog_addresses(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        logs.parse_syslog_address(text)


def test_syslog_address_forms() -> None:
    assert logs.parse_syslog_address("tcp://h:601").address == ("h", 601)
    assert logs.parse_syslog_address("tcp://h:601").socktype == socket.SOCK_STREAM
    assert logs.parse_syslog_address("udp://h").address == ("h", 514)
    assert logs.parse_syslog_address("/dev/log").socktype is None
    with pytest.raises(UsageError, match="facility"):
        logs.facility_code("kernel-ish")


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_sends_to_systemds_socket(tmp_path: Path, abstract: bool) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        if abstract:
            name = f"keyark-test-{id(server)}"
            server.bind("\0" + name)
            address = "@" + name
        else:
            address = str(tmp_path / "notify.sock")
            server.bind(address)
        server.settimeout(5)
        assert notify("READY=1", {"NOTIFY_SOCKET": address})
        assert server.recv(100) == b"READY=1"
        assert notify("STOPPING=1", {"NOTIFY_SOCKET": address})
        assert server.recv(100) == b"STOPPING=1"


def test_notify_without_systemd_does_nothing(tmp_path: Path) -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative"})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
