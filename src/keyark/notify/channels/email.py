"""E-mail: one message per alert through SMTP (STARTTLS or TLS, login by password file)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from keyark.monitor.model import Alert
from keyark.notify.channels.base import DeliveryError, describe, read_secret_file
from keyark.notify.message import subject, text_body

if TYPE_CHECKING:
    from keyark.config.notifications import EmailChannel


def email_message(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    """The alert as a plain-text e-mail."""
    message = EmailMessage()
    message["Subject"] = subject(alert)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Keyark-Alert-Key"] = alert.key
    message["X-Keyark-Level"] = alert.level.label
    message.set_content(text_body(alert))
    return message


class EmailSender:
    """Sends alerts by SMTP."""

    def __init__(self, spec: EmailChannel, name: str) -> None:
        self.spec = spec
        self.name = name

    def send(self, alert: Alert) -> None:
        """Send ``alert`` to every recipient; every recipient must be accepted."""
        smtp = self.spec.smtp
        password = (
            read_secret_file(smtp.password_file, "the SMTP password")
            if smtp.password_file is not None
            else None
        )
        message = email_message(alert, self.spec.sender, self.spec.recipients)
        where = f"{smtp.host}:{smtp.effective_port()}"
        timeout = self.spec.timeout.total_seconds()
        context = ssl.create_default_context(cafile=smtp.ca_file)
        try:
            client = (
                smtplib.SMTP_SSL(smtp.host, smtp.effective_port(), timeout=timeout, context=context)
                if smtp.tls
                else smtplib.SMTP(smtp.host, smtp.effective_port(), timeout=timeout)
            )
            with client:
                if smtp.starttls:
                    client.starttls(context=context)
                if smtp.username is not None and password is not None:
                    client.login(smtp.username, password)
                refused = client.send_message(message)
        except smtplib.SMTPNotSupportedError as error:
            raise DeliveryError(f"SMTP server {where}: {describe(error)}") from None
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(
                f"SMTP server {where} refused the login of {smtp.username!r} ({error.smtp_code})"
            ) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
            raise DeliveryError(
                f"cannot send through SMTP server {where}: {describe(error)}"
            ) from None
        if refused:
            raise DeliveryError(
                f"SMTP server {where} refused recipients: {', '.join(sorted(refused))}"
            )
