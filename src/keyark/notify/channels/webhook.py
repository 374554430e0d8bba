"""Webhook: the alert as JSON, POSTed with an HMAC-SHA256 signature of the body."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING

from keyark.monitor.model import Alert
from keyark.notify.channels.base import read_secret_file
from keyark.notify.channels.http import post_json, without_query
from keyark.notify.message import payload

if TYPE_CHECKING:
    from keyark.config.notifications import WebhookChannel

#: The header carrying ``sha256=<hex>`` of the body.
SIGNATURE_HEADER = "X-Keyark-Signature"


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Posts alerts as JSON to a URL, signed when a secret file is given."""

    def __init__(self, spec: WebhookChannel, name: str) -> None:
        self.spec = spec
        self.name = name

    def send(self, alert: Alert) -> None:
        """Post ``alert``; the server must answer 2xx."""
        body = json.dumps(payload(alert, self.name), sort_keys=True).encode()
        headers: dict[str, str] = {}
        if self.spec.secret_file is not None:
            secret = read_secret_file(self.spec.secret_file, "the webhook signing key")
            headers[SIGNATURE_HEADER] = signature(secret.encode(), body)
        post_json(
            self.spec.url,
            body,
            timeout=self.spec.timeout.total_seconds(),
            headers=headers,
            ca_file=self.spec.ca_file,
            shown_url=without_query(self.spec.url),
        )
