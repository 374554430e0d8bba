"""Each alert channel against a real server on loopback: what arrives is checked.

SMTP (aiosmtpd: STARTTLS and AUTH required), Slack and webhook payloads (an HTTP
listener; the HMAC is verified here), syslog over real UDP and TCP listeners
(RFC 5424 parsed), Apprise ``json://`` end to end. Each success has a failing twin:
a wrong password, plain SMTP without STARTTLS, a wrong signing key, a partial
Apprise failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from pathlib import Path

import pytest
from tests import notify_servers as servers
from tests.integration.notify_helpers import alert, config_with, secret_file, settled
from tests.notify_servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    HTTPListener,
    SMTPServer,
    SyslogListener,
    TLSFiles,
    free_port,
    parse_rfc5424,
    start_smtp,
)

from keyark.config.notifications import FACILITIES
from keyark.monitor.alert_store import AlertStore
from keyark.monitor.model import Level
from keyark.notify.dispatch import deliver

#: aiosmtpd warns (per connection) that SMTPS auth is not "TLS": it is TLS from the start
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

# the real servers (fixtures of tests/notify_servers.py)
tls_files = servers.tls_files
smtp_server = servers.smtp_server
http_listener = servers.http_listener
syslog_udp = servers.syslog_udp
syslog_tcp = servers.syslog_tcp


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    return AlertStore(tmp_path / "state")


def _email(port: int, files: TLSFiles, password_file: str, **smtp: object) -> dict[str, object]:
    return {
        "type": "email",
        "min_level": "warning",
        "retries": 0,
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "starttls": True,
            "username": SMTP_USER,
            "password_file": password_file,
            "ca_file": str(files.cert),
            **smtp,
        },
        "from": "keyark@example.test",
        "recipients": ["ops@example.test", "oncall@example.test"],
    }


def test_email_over_starttls_with_auth_plain(
    tmp_path: Path, store: AlertStore, smtp_server: SMTPServer, tls_files: TLSFiles
) -> None:
    password = secret_file(tmp_path, "smtp-pw", SMTP_PASSWORD)
    sent = alert(store=store)
    deliver(config_with(_email(smtp_server.port, tls_files, password)), [sent], store)
    [mail] = smtp_server.wait_for(1)
    assert mail.tls and mail.login == SMTP_USER and smtp_server.mechanisms == ["PLAIN"]
    assert mail.recipients == ["ops@example.test", "oncall@example.test"]
    assert mail.sender == "keyark@example.test"
    assert "[keyark CRITICAL]" in mail.message["Subject"] and sent.title in mail.message["Subject"]
    body = mail.message.get_payload(decode=True)
    assert isinstance(body, bytes) and sent.message in body.decode()
    assert mail.message["X-Keyark-Alert-Key"] == "backup_age:tls"
    [delivery] = settled(store)
    assert (delivery.status, delivery.attempts, delivery.alert) == ("sent", 1, sent.id)


def test_email_auth_login_when_plain_is_not_offered(
    tmp_path: Path, store: AlertStore, tls_files: TLSFiles
) -> None:
    controller, server = start_smtp(tls_files, exclude=["PLAIN"])
    try:
        password = secret_file(tmp_path, "smtp-pw", SMTP_PASSWORD)
        deliver(config_with(_email(server.port, tls_files, password)), [alert()], store)
        [mail] = server.wait_for(1)
        assert server.mechanisms == ["LOGIN"] and mail.login == SMTP_USER and mail.tls
    finally:
        controller.stop()


def test_email_over_implicit_tls(tmp_path: Path, store: AlertStore, tls_files: TLSFiles) -> None:
    controller, server = start_smtp(tls_files, implicit=True)
    try:
        password = secret_file(tmp_path, "smtp-pw", SMTP_PASSWORD)
        channel = _email(server.port, tls_files, password, starttls=False, tls=True)
        deliver(config_with(channel), [alert()], store)
        [mail] = server.wait_for(1)
        assert mail.tls and mail.login == SMTP_USER
        # positive control: without the CA file the self-signed certificate is refused
        untrusted = _email(server.port, tls_files, password, starttls=False, tls=True, ca_file=None)
        deliver(config_with(untrusted), [alert(key="job:x")], store)
        [failed] = [d for d in settled(store) if d.key == "job:x"]
        assert failed.status == "failed" and "CERTIFICATE_VERIFY_FAILED" in (failed.error or "")
        assert len(server.inbox.items) == 1
    finally:
        controller.stop()


def test_email_wrong_password_and_no_starttls_fail_and_are_recorded(
    tmp_path: Path,
    store: AlertStore,
    smtp_server: SMTPServer,
    tls_files: TLSFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = secret_file(tmp_path, "wrong-pw", "not-the-password-9Zk")
    right = secret_file(tmp_path, "smtp-pw", SMTP_PASSWORD)
    config = config_with(
        {**_email(smtp_server.port, tls_files, wrong), "name": "wrong-password"},
        {**_email(smtp_server.port, tls_files, right, starttls=False), "name": "plain"},
    )
    with caplog.at_level(logging.DEBUG):
        deliver(config, [alert()], store)
        deliveries = settled(store)
    by_channel = {delivery.channel: delivery for delivery in deliveries}
    assert by_channel["wrong-password"].status == "failed"
    assert "refused the login of 'keyark'" in (by_channel["wrong-password"].error or "")
    assert by_channel["plain"].status == "failed"  # the server requires STARTTLS first
    assert smtp_server.inbox.items == []
    everything = caplog.text + json.dumps([d.to_dict() for d in deliveries])
    assert "not-the-password-9Zk" not in everything and SMTP_PASSWORD not in everything


def test_slack_payload_and_the_url_stays_secret(
    tmp_path: Path,
    store: AlertStore,
    http_listener: HTTPListener,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url_file = secret_file(tmp_path, "slack-url", http_listener.url("/services/T0/B0/s3cr3tTOKEN"))
    config = config_with(
        {"type": "slack", "min_level": "critical", "webhook_url_file": url_file, "retries": 0}
    )
    deliver(config, [alert()], store)
    [request] = http_listener.wait_for(1)
    assert request.path == "/services/T0/B0/s3cr3tTOKEN"
    assert request.headers["content-type"] == "application/json"
    payload = json.loads(request.body)
    assert "[keyark CRITICAL]" in payload["text"]
    [attachment] = payload["attachments"]
    assert attachment["color"] == "#D00000" and "51 hours old" in attachment["text"]
    assert settled(store)[0].status == "sent"
    # a refusing Slack: the error names the host, never the secret URL
    http_listener.answers.append(500)
    with caplog.at_level(logging.DEBUG):
        deliver(config, [alert(level=Level.CRITICAL, key="job:other")], store)
        failed = [d for d in settled(store) if d.key == "job:other"]
    assert [d.status for d in failed] == ["failed"]
    assert "HTTP 500" in (failed[0].error or "") and "127.0.0.1" in (failed[0].error or "")
    assert "s3cr3tTOKEN" not in (failed[0].error or "") and "s3cr3tTOKEN" not in caplog.text


def test_webhook_json_with_a_verifiable_hmac(
    tmp_path: Path, store: AlertStore, http_listener: HTTPListener
) -> None:
    key = "hmac-key-for-the-test"
    config = config_with(
        {
            "type": "webhook",
            "min_level": "info",
            "url": http_listener.url("/hooks/keyark"),
            "secret_file": secret_file(tmp_path, "hmac", key),
        }
    )
    sent = alert(store=store, level=Level.WARNING)
    deliver(config, [sent], store)
    [request] = http_listener.wait_for(1)
    header = request.headers["x-keyark-signature"]
    expected = "sha256=" + hmac.new(key.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, expected)
    # positive control: another key (or another body) does not verify
    other = "sha256=" + hmac.new(b"another key", request.body, hashlib.sha256).hexdigest()
    tampered = request.body.replace(b"warning", b"info")
    assert header != other
    assert header != "sha256=" + hmac.new(key.encode(), tampered, hashlib.sha256).hexdigest()
    payload = json.loads(request.body)
    assert payload["key"] == "backup_age:tls" and payload["level"] == "warning"
    assert payload["id"] == sent.id and payload["channel"] == "webhook"
    assert payload["source"] == "keyark" and payload["previous"] == "ok"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_syslog_rfc5424_over_udp_and_tcp(
    transport: str,
    store: AlertStore,
    syslog_udp: SyslogListener,
    syslog_tcp: SyslogListener,
) -> None:
    listener = syslog_udp if transport == "udp" else syslog_tcp
    config = config_with(
        {"type": "syslog", "address": listener.address, "facility": "local0", "min_level": "info"}
    )
    sent = [
        alert(),
        alert(
            key='disk:/var "x"]',
            level=Level.WARNING,
            title="disk 85% used",
            message="the disk of /var is 85% full (warning: 80%)",
        ),
    ]
    deliver(config, sent, store)
    messages = [parse_rfc5424(data) for data in listener.wait_for(2)]
    by_key = {message["sd"]["key"]: message for message in messages}
    critical, warning = by_key["backup_age:tls"], by_key['disk:/var "x"]']
    assert critical["facility"] == FACILITIES["local0"] == 16
    assert (critical["severity"], warning["severity"]) == (2, 4)  # crit, warning
    assert critical["app"] == "keyark" and critical["msgid"] == "transition"
    assert critical["sd_id"] == "keyark@32473" and critical["sd"]["level"] == "critical"
    assert critical["msg"].startswith("job tls: no backup for 51 hours: the newest")
    assert critical["timestamp"].tzinfo is not None
    assert {d.status for d in settled(store)} == {"sent"}


def test_syslog_to_a_local_socket(tmp_path: Path, store: AlertStore) -> None:
    path = tmp_path / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(str(path))
        receiver.settimeout(10)
        config = config_with({"type": "syslog", "address": str(path), "facility": "daemon"})
        deliver(config, [alert()], store)
        message = parse_rfc5424(receiver.recv(65536))
    assert message["facility"] == 3 and message["sd"]["key"] == "backup_age:tls"
    assert settled(store)[0].status == "sent"


def test_syslog_tcp_with_no_listener_fails(store: AlertStore) -> None:
    config = config_with(
        {"type": "syslog", "address": f"tcp://127.0.0.1:{free_port()}", "retries": 0}
    )
    deliver(config, [alert()], store)
    [delivery] = settled(store)
    assert delivery.status == "failed" and "refused" in (delivery.error or "").lower()


def test_apprise_json_end_to_end_and_a_partial_failure_is_a_failure(
    tmp_path: Path, store: AlertStore, http_listener: HTTPListener
) -> None:
    good = f"json://127.0.0.1:{http_listener.port}/apprise"
    url_file = secret_file(tmp_path, "apprise-url", good)
    config = config_with({"type": "apprise", "min_level": "critical", "url_file": url_file})
    deliver(config, [alert()], store)
    [request] = http_listener.wait_for(1)
    assert request.path == "/apprise"
    payload = json.loads(request.body)
    assert payload["type"] == "failure" and "no backup for 51 hours" in payload["title"]
    assert "51 hours old" in payload["message"]
    assert settled(store)[0].status == "sent"
    # two URLs, one of them refusing: Apprise's result is false -> a failed delivery
    both = secret_file(tmp_path, "apprise-two", f"{good}\njson://127.0.0.1:{free_port()}/x")
    config = config_with({"type": "apprise", "url_file": both, "retries": 0})
    deliver(config, [alert(key="job:partial")], store)
    [partial] = [d for d in settled(store) if d.key == "job:partial"]
    assert partial.status == "failed"
    assert "1 delivered, 1 failed" in (partial.error or "")
    assert len(http_listener.wait_for(2)) == 2  # the good URL still got it
