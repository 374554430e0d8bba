"""Slack: a message to an incoming webhook (the URL, a secret, is read from a file)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from keyark.monitor.model import Alert, Level
from keyark.notify.channels.base import read_secret_file
from keyark.notify.channels.http import host_of, post_json
from keyark.notify.message import level_label, subject

if TYPE_CHECKING:
    from keyark.config.notifications import SlackChannel

#: The attachment colour of each level (resolved: green).
COLOURS = {Level.INFO: "#439FE0", Level.WARNING: "#E9A820", Level.CRITICAL: "#D00000"}
RESOLVED_COLOUR = "#2EB886"


def slack_message(alert: Alert) -> dict[str, Any]:
    """The incoming-webhook payload: a text line and a coloured attachment."""
    colour = (
        RESOLVED_COLOUR
        if alert.kind == "resolved"
        else COLOURS.get(alert.level, COLOURS[Level.WARNING])
    )
    return {
        "text": subject(alert),
        "attachments": [
            {
                "color": colour,
                "title": f"{level_label(alert)}: {alert.title}",
                "text": alert.message,
                "footer": f"{alert.key} · {alert.kind}",
                "ts": int(alert.time.timestamp()),
            }
        ],
    }


class SlackSender:
    """Posts alerts to a Slack incoming webhook."""

    def __init__(self, spec: SlackChannel, name: str) -> None:
        self.spec = spec
        self.name = name

    def send(self, alert: Alert) -> None:
        """Post ``alert``; the webhook must answer 2xx."""
        url = read_secret_file(self.spec.webhook_url_file, "the Slack webhook URL")
        body = json.dumps(slack_message(alert)).encode()
        post_json(url, body, timeout=self.spec.timeout.total_seconds(), shown_url=host_of(url))
