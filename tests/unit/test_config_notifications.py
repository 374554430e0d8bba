"""The ``notifications:`` list: the five channel kinds, their errors in plain words."""

from __future__ import annotations

import pytest

from keyark.config.loading import parse_config_text
from keyark.config.notifications import channel_names
from keyark.config.problems import ConfigFileError
from keyark.config.starter import STARTER

ISSUE_EXAMPLE = """\
notifications:
  - {type: email, min_level: warning, smtp: {host: smtp.example, port: 587, starttls: true,
     username: keyark, password_file: /etc/keyark/smtp-pw}, from: keyark@example,
     recipients: [ops@example]}
  - {type: slack, min_level: critical, webhook_url_file: /etc/keyark/slack-url}
  - {type: webhook, min_level: info, url: "https://hooks.example/keyark",
     secret_file: /etc/keyark/hmac}
  - {type: syslog, min_level: warning, address: "udp://127.0.0.1:514", facility: local0}
  - {type: apprise, min_level: critical, url_file: /etc/keyark/apprise-url}
"""


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigFileError) as caught:
        parse_config_text(text, "yaml")
    return {
        problem.path: f"line {problem.line}: {problem.message}" for problem in caught.value.problems
    }


def test_the_issue_example_validates() -> None:
    config = parse_config_text(ISSUE_EXAMPLE, "yaml")
    email, slack, webhook, syslog, apprise = config.notifications
    assert email.type == "email" and email.smtp.effective_port() == 587 and email.smtp.starttls
    assert email.sender == "keyark@example" and email.repeat_interval.total_seconds() == 86400
    assert slack.type == "slack" and slack.min_level == "critical"
    assert webhook.type == "webhook" and webhook.secret_file == "/etc/keyark/hmac"
    assert syslog.type == "syslog" and syslog.facility == "local0"
    assert apprise.type == "apprise" and apprise.digest is False
    assert channel_names(config.notifications) == ["email", "slack", "webhook", "syslog", "apprise"]


def test_errors_point_at_the_key_in_plain_words() -> None:
    text = """\
notifications:
  - type: email
    smtp:
      host: x
      prt: 25
    from: a@b.c
    recipients: [x@y.z]
  - {type: slak, webhook_url_file: /x}
  - {webhook_url_file: /x}
  - {type: syslog, digest: "daily at 25:00", facility: local9}
  - {type: email, from: a@b.c, recipients: [x@y.z], smtp: {starttls: true, tls: true}}
  - {type: webhook, url: "ftp://x/"}
"""
    problems = problems_of(text)
    assert (
        problems["notifications[0].smtp.prt"] == "line 5: unknown key 'prt' (did you mean 'port'?)"
    )
    assert problems["notifications[1].type"] == (
        "line 8: unknown channel type 'slak' (did you mean 'slack'?); "
        "one of email, slack, webhook, syslog, apprise"
    )
    assert problems["notifications[2].type"].startswith("line 9: missing required key 'type'")
    assert "'daily at HH:MM'" in problems["notifications[3].digest"]
    assert problems["notifications[3].facility"].startswith("line 10: 'local9' is not allowed")
    assert problems["notifications[4].smtp"].endswith("choose starttls or tls, not both")
    assert "notifications[5].url" in problems
    assert len(problems) == 7


def test_secrets_only_by_reference() -> None:
    text = """\
notifications:
  - {type: email, from: k@b.c, recipients: [a@b.c], smtp: {username: k, password: hunter2}}
  - {type: webhook, url: "https://user:pw@hooks.example/x", secret: s3cret}
  - {type: slack, webhook_url: "https://hooks.slack.com/services/T/B/x"}
"""
    problems = problems_of(text)
    assert "use password_file" in problems["notifications[0].smtp.password"]
    assert problems["notifications[1].secret"].endswith("use secret_file")
    assert "in the URL" in problems["notifications[1].url"]
    assert "did you mean 'webhook_url_file'" in problems["notifications[2].webhook_url"]
    everything = " ".join(problems.values())
    assert "hunter2" not in everything and "s3cret" not in everything


def test_channel_names_are_numbered_and_must_be_unique() -> None:
    text = """\
notifications:
  - {type: syslog, address: "udp://127.0.0.1:514"}
  - {type: syslog, address: "tcp://127.0.0.1:601"}
  - {type: syslog, name: local}
"""
    config = parse_config_text(text, "yaml")
    assert channel_names(config.notifications) == ["syslog", "syslog-2", "local"]
    doubled = text + "  - {type: slack, name: local, webhook_url_file: /x}\n"
    assert "two channels are named 'local'" in problems_of(doubled)["notifications"]


def test_digest_time_and_defaults() -> None:
    text = 'notifications:\n  - {type: syslog, digest: "daily at 07:30", repeat_interval: 2h}\n'
    [channel] = parse_config_text(text, "yaml").notifications
    at = channel.digest_time()
    assert at is not None and (at.hour, at.minute) == (7, 30)
    assert channel.repeat_interval.total_seconds() == 7200 and channel.min_level == "warning"
    assert channel.type == "syslog" and channel.address == "/dev/log" and channel.retries == 3


def test_the_starters_commented_channels_validate_when_uncommented() -> None:
    lines = STARTER.splitlines()
    start = lines.index("# notifications:")
    text = "\n".join(lines[:start] + [line[2:] for line in lines[start:] if line.startswith("# ")])
    config = parse_config_text(text, "yaml")
    assert [channel.type for channel in config.notifications] == [
        "email",
        "slack",
        "webhook",
        "syslog",
        "apprise",
    ]
    assert parse_config_text(STARTER, "yaml").notifications == []
