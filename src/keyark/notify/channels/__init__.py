"""One module per kind of alert channel; :func:`channel_for` builds the right one.

Every channel has a ``name`` and ``send(alert)``, which delivers the alert once or
raises :class:`~keyark.notify.channels.base.DeliveryError` (the dispatcher retries).
Secrets (the SMTP password, the Slack URL, the signing key, the Apprise URL) are read
from their files at each send and registered with :mod:`keyark.redaction`, so they
never reach a log line or a recorded error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyark.notify.channels.base import Channel, DeliveryError

if TYPE_CHECKING:
    from keyark.config.notifications import ChannelSpec


def channel_for(spec: ChannelSpec, name: str) -> Channel:
    """The channel ``spec`` describes, called ``name``."""
    if spec.type == "email":
        from keyark.notify.channels.email import EmailSender

        return EmailSender(spec, name)
    if spec.type == "slack":
        from keyark.notify.channels.slack import SlackSender

        return SlackSender(spec, name)
    if spec.type == "webhook":
        from keyark.notify.channels.webhook import WebhookSender

        return WebhookSender(spec, name)
    if spec.type == "syslog":
        from keyark.notify.channels.syslog import SyslogSender

        return SyslogSender(spec, name)
    from keyark.notify.channels.apprise import AppriseSender

    return AppriseSender(spec, name)


__all__ = ["Channel", "DeliveryError", "channel_for"]
