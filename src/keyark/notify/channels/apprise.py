"""Apprise: alerts to the ~100 services it knows, by URL(s) kept in a file.

Apprise 2.x's ``notify()`` returns a result object; a partial failure (some of the
URLs failed) is false, and keyark counts it as a failed delivery (retried).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyark.monitor.model import Alert, Level
from keyark.notify.channels.base import DeliveryError, describe, read_secret_file
from keyark.notify.message import level_label, text_body
from keyark.redaction import register_secret

if TYPE_CHECKING:
    from keyark.config.notifications import AppriseChannel

#: Apprise's notify types by level (CRITICAL is a failure; resolved is a success).
NOTIFY_TYPES = {
    Level.OK: "success",
    Level.INFO: "info",
    Level.WARNING: "warning",
    Level.CRITICAL: "failure",
    Level.UNKNOWN: "warning",
}


class AppriseSender:
    """Sends alerts through Apprise."""

    def __init__(self, spec: AppriseChannel, name: str) -> None:
        self.spec = spec
        self.name = name

    def send(self, alert: Alert) -> None:
        """Notify every URL of the file; any of them failing fails the delivery."""
        try:
            import apprise
        except ImportError:
            raise DeliveryError(
                "the apprise package is not installed (keyark's 'monitor' extra)"
            ) from None
        text = read_secret_file(self.spec.url_file, "the Apprise URL")
        urls = [line.strip() for line in text.splitlines() if line.strip()]
        for url in urls:
            register_secret(url)  # Apprise's own log lines name the URLs
        sender: Any = apprise.Apprise()
        for index, url in enumerate(urls, start=1):
            if not sender.add(url):
                raise DeliveryError(
                    f"line {index} of {self.spec.url_file} is not a URL Apprise knows"
                )
        try:
            result = sender.notify(
                body=text_body(alert),
                title=f"{level_label(alert)}: {alert.title}",
                notify_type=NOTIFY_TYPES[alert.level],
            )
        except Exception as error:  # a plugin's own failure: a failed delivery
            raise DeliveryError(f"apprise failed: {describe(error)}") from None
        if not result:
            raise DeliveryError(f"apprise did not deliver to every URL ({_status(result)})")


def _status(result: Any) -> str:
    """What Apprise's result says (2.x: counts of delivered and failed; 1.x: a bool)."""
    delivered = getattr(result, "success_count", None)
    failed = getattr(result, "failed_count", None)
    if delivered is None or failed is None:
        return "failed"
    timed_out = getattr(result, "timeout_count", 0) or 0
    return f"{delivered} delivered, {failed} failed" + (
        f", {timed_out} timed out" if timed_out else ""
    )
