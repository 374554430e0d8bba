"""Every channel kind end to end through the installed ``keyark monitor test-notify``:
the config file names real servers on loopback, and what they receive is checked."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from tests import notify_servers as servers
from tests.e2e.monitor_cli import Monitored
from tests.notify_servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    HTTPListener,
    SMTPServer,
    SyslogListener,
    TLSFiles,
    free_port,
    parse_rfc5424,
)

from keyark.monitor.alert_store import AlertStore

tls_files = servers.tls_files
smtp_server = servers.smtp_server
http_listener = servers.http_listener
syslog_udp = servers.syslog_udp
syslog_tcp = servers.syslog_tcp


def _secret(root: Path, name: str, text: str) -> str:
    path = root / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def test_test_notify_reaches_every_kind_of_channel(
    tmp_path: Path,
    tls_files: TLSFiles,
    smtp_server: SMTPServer,
    http_listener: HTTPListener,
    syslog_udp: SyslogListener,
    syslog_tcp: SyslogListener,
) -> None:
    setup = Monitored(tmp_path)
    hmac_key = "e2e-signing-key"
    setup.extra["notifications"] = [
        {
            "type": "email",
            "min_level": "critical",  # a test alert goes to every channel asked for
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "starttls": True,
                "username": SMTP_USER,
                "password_file": _secret(tmp_path, "smtp-pw", SMTP_PASSWORD),
                "ca_file": str(tls_files.cert),
            },
            "from": "keyark@example.test",
            "recipients": ["ops@example.test"],
        },
        {
            "type": "slack",
            "webhook_url_file": _secret(tmp_path, "slack", http_listener.url("/slack/T/B/x")),
        },
        {
            "type": "webhook",
            "url": http_listener.url("/hook"),
            "secret_file": _secret(tmp_path, "hmac", hmac_key),
        },
        {"type": "syslog", "address": syslog_udp.address, "facility": "local3"},
        {"type": "syslog", "name": "syslog-tcp", "address": syslog_tcp.address},
        {
            "type": "apprise",
            "url_file": _secret(tmp_path, "apprise", f"json://127.0.0.1:{http_listener.port}/ap"),
        },
    ]
    setup.write()
    result = setup.keyark("monitor", "test-notify", "--config", str(setup.config), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {d["channel"]: d["status"] for d in json.loads(result.stdout)["deliveries"]}
    assert statuses == {
        name: "sent" for name in ("email", "slack", "webhook", "syslog", "syslog-tcp", "apprise")
    }
    [mail] = smtp_server.wait_for(1)
    assert mail.tls and mail.login == SMTP_USER and "test alert" in mail.message["Subject"]
    requests = {request.path: request for request in http_listener.wait_for(3)}
    assert "test alert" in json.loads(requests["/slack/T/B/x"].body)["text"]
    hook = requests["/hook"]
    expected = "sha256=" + hmac.new(hmac_key.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["x-keyark-signature"] == expected
    assert json.loads(hook.body)["kind"] == "test"
    assert json.loads(requests["/ap"].body)["type"] == "info"
    udp = parse_rfc5424(syslog_udp.wait_for(1)[0])
    tcp = parse_rfc5424(syslog_tcp.wait_for(1)[0])
    assert udp["facility"] == 19 and tcp["facility"] == 1  # local3; the default, user
    assert udp["msgid"] == tcp["msgid"] == "test" and udp["severity"] == 6


def test_a_refusing_channel_is_retried_recorded_and_exits_1(tmp_path: Path) -> None:
    setup = Monitored(tmp_path)
    setup.extra["notifications"] = [
        {
            "type": "webhook",
            "name": "down",
            "url": f"http://127.0.0.1:{free_port()}/hook",
            "retries": 2,
            "backoff": "100ms",
        }
    ]
    setup.write()
    result = setup.keyark("monitor", "test-notify", "--config", str(setup.config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "down: failed: cannot post to http://127.0.0.1" in result.stdout
    store = AlertStore(setup.state)
    attempts = sorted(d.attempts for d in store.deliveries(channel="down", status="failed"))
    assert attempts == [1, 2, 3] and store.failure_counts() == {"down": 3}


def test_an_unknown_channel_name_is_one_clear_line(tmp_path: Path) -> None:
    setup = Monitored(tmp_path)
    setup.extra["notifications"] = [{"type": "syslog", "address": "udp://127.0.0.1:9"}]
    setup.write()
    result = setup.keyark("monitor", "test-notify", "nope", "--config", str(setup.config))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no enabled notification channel named 'nope'" in result.stderr
