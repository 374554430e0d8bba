"""The alert channels of the config file: ``notifications:``, a list of channel specs.

Each entry names its ``type`` (``email``, ``slack``, ``webhook``, ``syslog``,
``apprise``) and the settings of that kind of channel; every channel has a
``min_level``, a ``repeat_interval`` and an optional daily ``digest``. Secrets appear
only by reference: the SMTP password, the Slack webhook URL, the webhook's signing key
and the Apprise URL are files read when an alert is sent.

:data:`ChannelSpec` is the discriminated union of the five kinds; :data:`ChannelList`
the list type of the ``notifications`` key (channel names unique);
:func:`channel_name` the name a channel goes by (``name``, else its type, numbered
when the type repeats: ``email``, ``email-2``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from keyark.config.fields import Duration
from keyark.config.section import Section

#: The levels a channel can ask for (the monitor's ``Level`` names).
MinLevel = Literal["info", "warning", "critical"]
#: ``daily at HH:MM`` (24-hour clock, in the scheduler's time zone).
DIGEST_PATTERN = r"^daily at ([01]\d|2[0-3]):([0-5]\d)$"
#: Syslog facilities by name (RFC 5424 numbers).
FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    **{f"local{number}": 16 + number for number in range(8)},
}


def _digest(value: Any) -> Any:
    if value is False or value is None:
        return False
    if isinstance(value, str) and re.match(DIGEST_PATTERN, value.strip()):
        return value.strip()
    raise ValueError(
        f"a digest is false or 'daily at HH:MM' (e.g. 'daily at 08:00'), not {value!r}"
    )


#: ``false`` (no digest) or ``daily at HH:MM``.
DigestText = Annotated[
    Literal[False] | str,
    BeforeValidator(_digest),
    WithJsonSchema(
        {
            "anyOf": [{"const": False}, {"type": "string", "pattern": DIGEST_PATTERN}],
            "description": "false, or 'daily at HH:MM' (the scheduler's time zone)",
        }
    ),
]


class _Channel(Section):
    type: str
    """The kind of channel: ``email``, ``slack``, ``webhook``, ``syslog`` or ``apprise``."""
    name: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """The channel's name (``monitor test-notify NAME``, metrics); default: its type,
    numbered when the type repeats (``email``, ``email-2``)."""
    enabled: bool = True
    """Send alerts on this channel."""
    min_level: MinLevel = "warning"
    """The least severe alert sent: ``info``, ``warning`` or ``critical``."""
    repeat_interval: Duration = timedelta(hours=24)
    """The same alert (key and level) is sent again only after this long."""
    digest: DigestText = False
    """Also send a summary of the day's alerts (every level): ``daily at HH:MM``."""
    timeout: Duration = timedelta(seconds=10)
    """Give up one delivery attempt after this long."""
    retries: int = Field(default=3, ge=0, le=20)
    """Attempts after a failed one before the alert is recorded as not delivered."""
    backoff: Duration = timedelta(seconds=5)
    """The wait before the first retry; doubled before each further one."""

    def digest_time(self) -> time | None:
        """The time of day of the digest (None: no digest)."""
        if self.digest is False:
            return None
        match = re.match(DIGEST_PATTERN, str(self.digest))
        assert match is not None
        return time(int(match.group(1)), int(match.group(2)))


class SmtpSettings(Section):
    """The SMTP server alerts are sent through."""

    host: str = Field(default="localhost", min_length=1)
    """The SMTP server."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Its port; default 465 with ``tls``, 587 with ``starttls``, else 25."""
    starttls: bool = False
    """Upgrade the connection with STARTTLS (refused if the server does not offer it)."""
    tls: bool = False
    """Connect with TLS from the start (SMTPS, port 465)."""
    username: str | None = None
    """Log in as this user (with ``password_file``)."""
    password_file: str | None = None
    """A file holding the SMTP password (read when an alert is sent)."""
    ca_file: str | None = None
    """Trust this CA certificate file for the server's certificate (default: the system's)."""

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpSettings:
        if self.starttls and self.tls:
            raise ValueError("choose starttls or tls, not both")
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs username")
        return self

    def effective_port(self) -> int:
        """The port connected to."""
        if self.port is not None:
            return self.port
        return 465 if self.tls else 587 if self.starttls else 25


class EmailChannel(_Channel):
    """Alerts by e-mail (SMTP, STARTTLS or TLS, login from a password file)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )

    type: Literal["email"]
    """``email``."""
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    """The SMTP server."""
    sender: str = Field(alias="from", min_length=3)
    """The From address (``from`` in the file)."""
    recipients: list[str] = Field(min_length=1)
    """Addresses alerts go to."""


class SlackChannel(_Channel):
    """Alerts to a Slack incoming webhook (its URL is a secret: kept in a file)."""

    type: Literal["slack"]
    """``slack``."""
    webhook_url_file: str = Field(min_length=1)
    """A file holding the incoming webhook's URL."""


class WebhookChannel(_Channel):
    """Alerts as a JSON POST, signed with HMAC-SHA256 (``X-Keyark-Signature: sha256=<hex>``)."""

    type: Literal["webhook"]
    """``webhook``."""
    url: str = Field(pattern=r"^https?://")
    """Where the JSON is posted (``https://...``)."""
    secret_file: str | None = None
    """A file holding the signing key; the body's HMAC-SHA256 goes in ``X-Keyark-Signature``."""
    ca_file: str | None = None
    """Trust this CA certificate file for an ``https`` URL (default: the system's)."""


class SyslogChannel(_Channel):
    """Alerts as RFC 5424 syslog messages over UDP, TCP or the local socket."""

    type: Literal["syslog"]
    """``syslog``."""
    address: str = Field(default="/dev/log", pattern=r"^(udp|tcp)://[^/:]+(:\d{1,5})?$|^/")
    """``udp://host:514``, ``tcp://host:601`` or a local socket path (``/dev/log``)."""
    facility: Literal[
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ] = "user"
    """The syslog facility (``local0`` ... ``local7``, ``daemon``, ``user``, ...)."""
    app_name: str = Field(default="keyark", pattern=r"^[!-~]{1,48}$")
    """The APP-NAME of each message."""


class AppriseChannel(_Channel):
    """Alerts to any service Apprise knows (Teams, PagerDuty, ntfy, Telegram, ...)."""

    type: Literal["apprise"]
    """``apprise``."""
    url_file: str = Field(min_length=1)
    """A file holding the Apprise URL(s), one a line (they carry tokens)."""


#: The channel classes by ``type``.
CHANNEL_TYPES: dict[str, type[BaseModel]] = {
    "email": EmailChannel,
    "slack": SlackChannel,
    "webhook": WebhookChannel,
    "syslog": SyslogChannel,
    "apprise": AppriseChannel,
}


def _in_channel_words(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate one channel; its errors located below the entry itself (pydantic puts
    the union's tag in between), unknown keys and types named with the valid ones."""
    try:
        return handler(value)
    except ValidationError as error:
        kind = value.get("type") if isinstance(value, Mapping) else None
        model = CHANNEL_TYPES.get(kind) if isinstance(kind, str) else None
        details: list[InitErrorDetails] = []
        for item in error.errors(include_url=False):
            location = tuple(item["loc"])
            if model is not None and location[:1] == (kind,):
                location = location[1:]
            custom = _reworded(item["type"], location, kind, model)
            detail: InitErrorDetails
            if custom is None:
                detail = {"type": item["type"], "loc": location, "input": item["input"]}
                if "ctx" in item:
                    detail["ctx"] = item["ctx"]
            else:
                where = location if item["type"] == "extra_forbidden" else (*location, "type")
                detail = {"type": custom, "loc": where, "input": item["input"]}
            details.append(detail)
        raise ValidationError.from_exception_data(error.title, details) from None


def _reworded(
    kind: str, location: tuple[Any, ...], given: Any, model: type[BaseModel] | None
) -> PydanticCustomError | None:
    from keyark.config.checks import field_names, suggestion

    types = ", ".join(CHANNEL_TYPES)
    if kind == "union_tag_invalid":
        hint = suggestion(str(given), list(CHANNEL_TYPES))
        message = f"unknown channel type {str(given)!r}{hint}; one of {types}"
        return PydanticCustomError("channel_type", message)
    if kind == "union_tag_not_found":
        return PydanticCustomError("channel_type", f"missing required key 'type' ({types})")
    if kind == "extra_forbidden" and location:
        section = _section_model(model, location[:-1])
        known = sorted(field_names(section)) if section is not None else []
        key = str(location[-1])
        message = f"unknown key {key!r}{suggestion(key, known)}"
        return PydanticCustomError("unknown_key", message)
    return None


def _section_model(
    model: type[BaseModel] | None, location: tuple[Any, ...]
) -> type[BaseModel] | None:
    """The model at ``location`` below a channel model (``("smtp",)`` -> SmtpSettings)."""
    from keyark.config.checks import field_names, model_of

    for step in location:
        if model is None:
            return None
        name = field_names(model).get(str(step))
        model = None if name is None else model_of(model.model_fields[name].annotation)
    return model


#: One entry of ``notifications``: the kind named by its ``type``.
ChannelSpec = Annotated[
    Annotated[
        EmailChannel | SlackChannel | WebhookChannel | SyslogChannel | AppriseChannel,
        Field(discriminator="type"),
    ],
    WrapValidator(_in_channel_words),
]


def channel_names(channels: list[Any]) -> list[str]:
    """The name of each channel, in order: its ``name``, else its type, numbered from the
    second channel of that type on (``email``, ``email-2``)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for channel in channels:
        if channel.name is not None:
            names.append(channel.name)
            continue
        seen[channel.type] = seen.get(channel.type, 0) + 1
        count = seen[channel.type]
        names.append(channel.type if count == 1 else f"{channel.type}-{count}")
    return names


def _unique_names(channels: list[Any]) -> list[Any]:
    names = channel_names(channels)
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise ValueError(
            f"two channels are named {', '.join(map(repr, doubled))}; give each a unique name"
        )
    return channels


#: The ``notifications`` key: channels with unique names.
ChannelList = Annotated[list[ChannelSpec], AfterValidator(_unique_names)]
