"""Schedules of jobs and maintenance tasks: cron, ``@daily``-style names, ``every 6h``.

:func:`parse_schedule` turns the text of a config file's ``schedule:`` into a
:class:`Schedule`; a bad text raises ``ValueError`` with a message that names the
field and the value (``hour 25 is out of range (0-23)``), which the config model
reports with its path and line.

- Five-field cron (minute hour day-of-month month day-of-week) and the names
  ``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly``,
  ``@yearly``/``@annually`` are evaluated by cronsim, which follows Debian cron
  across DST changes (a 02:30 job on a spring-forward night runs at 03:00 once; on a
  fall-back night it runs once), in the time zone the caller gives.
- ``every N{s,m,h,d}`` (``every 30s``, ``every 6h``) is a fixed interval anchored at
  the Unix epoch, so its times do not depend on when the daemon started and do not
  move with DST.

Times are timezone-aware ``datetime`` values; :meth:`Schedule.next_after` is strictly
after its argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

#: ``@name`` -> its five-field cron expression.
NAMED = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

#: The five cron fields: name, lowest, highest value.
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: a cron expression or a fixed interval (exactly one is set)."""

    #: The text as written in the config (``0 2 * * *``, ``@daily``, ``every 6h``).
    text: str
    #: The five-field cron expression, or None for an interval.
    cron: str | None = None
    #: The interval, or None for a cron expression.
    interval: timedelta | None = None

    def next_after(self, moment: datetime, zone: tzinfo) -> datetime:
        """The first scheduled time strictly after ``moment`` (aware), in ``zone``."""
        return next(self.times_after(moment, zone))

    def times_after(self, moment: datetime, zone: tzinfo) -> Iterator[datetime]:
        """Every scheduled time strictly after ``moment``, ascending (an endless iterator)."""
        if moment.tzinfo is None:
            raise ValueError("a schedule needs a timezone-aware time")
        if self.interval is not None:
            step = self.interval
            count = (moment - _EPOCH) // step + 1
            while True:
                yield (_EPOCH + count * step).astimezone(zone)
                count += 1
        assert self.cron is not None
        from cronsim import CronSim

        local = moment.astimezone(zone)
        for found in CronSim(self.cron, local):
            if found > moment:
                yield found

    def times_between(self, start: datetime, end: datetime, zone: tzinfo) -> Iterator[datetime]:
        """The scheduled times in ``(start, end]``, ascending."""
        for found in self.times_after(start, zone):
            if found > end:
                return
            yield found

    def __str__(self) -> str:
        return self.text


def parse_schedule(text: str) -> Schedule:
    """The schedule a config text names; ``ValueError`` says what is wrong with it."""
    cleaned = " ".join(text.split()).lower()
    if not cleaned:
        raise ValueError("a schedule is empty")
    every = _EVERY.match(cleaned)
    if every:
        amount = int(every.group(1))
        if amount <= 0:
            raise ValueError(f"{text!r}: the interval must be more than 0")
        return Schedule(text, interval=timedelta(seconds=amount * _UNIT_SECONDS[every.group(2)]))
    if cleaned.startswith("every"):
        raise ValueError(f"{text!r}: write an interval as 'every N' with s, m, h or d (every 6h)")
    if cleaned.startswith("@"):
        if cleaned not in NAMED:
            names = ", ".join(sorted(NAMED))
            raise ValueError(f"{text!r} is not a schedule name (one of {names})")
        return Schedule(text, cron=NAMED[cleaned])
    fields = cleaned.split(" ")
    if len(fields) != len(_FIELDS):
        raise ValueError(
            f"{text!r} has {len(fields)} fields; a cron schedule has 5 "
            "(minute hour day-of-month month day-of-week)"
        )
    for position, value in enumerate(fields):
        _check_field(position, value)
    from cronsim import CronSim, CronSimError

    try:
        CronSim(cleaned, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        raise ValueError(f"{text!r} is not a valid cron schedule ({error})") from None
    return Schedule(text, cron=cleaned)


def _check_field(position: int, value: str) -> None:
    """Range and syntax of one cron field, with a message naming the field."""
    name, low, high = _FIELDS[position]
    for item in value.split(","):
        base, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"{name} step {step!r} must be a positive number")
        if base in ("*", "?"):
            continue
        for bound in base.split("-"):
            if position in _NAMES and bound in _NAMES[position]:
                continue
            if not bound.isdigit():
                # cronsim knows more forms (L, W, #): it validates them afterwards
                if position in (2, 4) and re.fullmatch(r"[0-9a-z#]+", bound):
                    continue
                raise ValueError(f"{name} {bound!r} is not a number")
            if not low <= int(bound) <= high:
                raise ValueError(f"{name} {int(bound)} is out of range ({low}-{high})")
