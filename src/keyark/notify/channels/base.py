"""What every channel shares: the protocol, the delivery error, secret files."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from keyark.errors import KeyarkError
from keyark.monitor.model import Alert
from keyark.redaction import redact, register_secret


class DeliveryError(KeyarkError):
    """One attempt to hand an alert to a channel failed (the message holds no secret)."""

    code = "delivery_failed"

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class Channel(Protocol):
    """An alert channel."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` once; raise :class:`DeliveryError` when it was not accepted."""
        ...


def read_secret_file(path: str, what: str) -> str:
    """The secret in file ``path`` (trailing newline removed), registered for redaction.

    ``what`` names it in the error (``the Slack webhook URL``); the file's content
    never appears in a message.
    """
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise DeliveryError(f"cannot read {what} from {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise DeliveryError(f"{path} ({what}) is not UTF-8 text") from None
    if not text:
        raise DeliveryError(f"{path} ({what}) is empty")
    register_secret(text)
    return text


def describe(error: BaseException | str) -> str:
    """An exception as one line without secrets (its type when it has no message)."""
    text = str(error).strip() or type(error).__name__
    return redact(" ".join(text.split()))
