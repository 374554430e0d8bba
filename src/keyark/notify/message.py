"""An alert in the words a person reads: subject line, text body, JSON payload."""

from __future__ import annotations

import socket
from typing import Any

from keyark.monitor.model import Alert, Level


def level_label(alert: Alert) -> str:
    """``CRITICAL``, ``WARNING``, ... or ``RESOLVED`` for a resolved alert."""
    return "RESOLVED" if alert.kind == "resolved" else alert.level.name


def routing_level(alert: Alert) -> Level:
    """The level a channel's ``min_level`` is compared with.

    A resolved alert counts at the level it ended (so a channel that heard the
    warning hears that it is over); UNKNOWN (a check that could not run) counts as
    WARNING.
    """
    level = alert.level
    if alert.kind == "resolved" and alert.previous is not None:
        level = max(level, alert.previous)
    return Level.WARNING if level == Level.UNKNOWN else level


def subject(alert: Alert) -> str:
    """``[keyark CRITICAL] host: title``."""
    return f"[keyark {level_label(alert)}] {socket.gethostname()}: {alert.title}"


def text_body(alert: Alert) -> str:
    """The alert as plain text: message, then what, when and where."""
    lines = [
        alert.message,
        "",
        f"level: {alert.level.label}"
        + (f" (was {alert.previous.label})" if alert.previous is not None else ""),
        f"key: {alert.key}",
        f"kind: {alert.kind}",
        f"time: {alert.time.isoformat()}",
        f"host: {socket.gethostname()}",
    ]
    return "\n".join(lines) + "\n"


def payload(alert: Alert, channel: str) -> dict[str, Any]:
    """The JSON a webhook receives: the alert's fields, the host and the channel."""
    return {
        "source": "keyark",
        "host": socket.gethostname(),
        "channel": channel,
        **alert.to_dict(),
    }
