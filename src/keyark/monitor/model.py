"""The monitoring vocabulary: levels, one check's result, and an alert.

Shared by the checks, the alert store, the notification channels and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any


class Level(IntEnum):
    """How bad a check's result or an alert is (ordered: a higher value is worse)."""

    OK = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3
    UNKNOWN = 4

    @property
    def label(self) -> str:
        """The lower-case name used in documents and the config (``"warning"``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        """The level named ``text`` (any case); ``ValueError`` when there is none."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.label for level in cls)
            raise ValueError(f"unknown level {text!r} (one of {names})") from None

    @property
    def exit_code(self) -> int:
        """The Nagios plugin exit code: 0 OK (and INFO), 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
        return {Level.OK: 0, Level.INFO: 0, Level.WARNING: 1, Level.CRITICAL: 2}.get(self, 3)


def overall_exit_code(levels: list[Level]) -> int:
    """The Nagios exit code of results: the worst level, UNKNOWN below CRITICAL.

    CRITICAL outranks UNKNOWN (a broken check must not hide a real failure); UNKNOWN
    outranks WARNING.
    """
    if Level.CRITICAL in levels:
        return 2
    if Level.UNKNOWN in levels:
        return 3
    if Level.WARNING in levels:
        return 1
    return 0


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict on one subject (``backup_age`` of job ``tls``)."""

    check: str
    subject: str
    level: Level
    message: str
    value: str | float | None = None
    threshold: str | None = None

    @property
    def key(self) -> str:
        """The identity alerts are tracked by: ``"<check>:<subject>"``."""
        return f"{self.check}:{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``monitor check --json``)."""
        return {
            "check": self.check,
            "subject": self.subject,
            "level": self.level.label,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
        }


#: The kinds of alert.
ALERT_KINDS = ("transition", "resolved", "job", "test", "digest")


@dataclass(frozen=True)
class Alert:
    """Something a person should hear about: a check changed level, or a job event."""

    key: str
    level: Level
    title: str
    message: str
    time: datetime
    kind: str
    previous: Level | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``monitor alerts --json``, webhook payloads)."""
        return {
            "id": self.id,
            "key": self.key,
            "level": self.level.label,
            "previous": self.previous.label if self.previous is not None else None,
            "kind": self.kind,
            "title": self.title,
            "message": self.message,
            "time": self.time.isoformat(),
        }
