"""The clocks the scheduler reads: wall time for schedules, monotonic time for jumps.

The scheduler compares how far the wall clock moved with how far the monotonic clock
moved between two looks: on Linux the monotonic clock stands still while the machine
sleeps, so a wall clock that moved much further means the machine slept (or its clock
was set), and missed runs are planned as catch-up. Tests pass a controllable clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from keyark.cancel import CancelledError, CancelToken


class Clock(Protocol):
    """Where the scheduler gets the time and how it waits."""

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds of a clock that never jumps (it may stand still while the machine sleeps)."""
        ...

    def sleep(self, seconds: float, stop: CancelToken) -> None:
        """Wait up to ``seconds``; return early (without raising) once ``stop`` is cancelled."""
        ...


class SystemClock:
    """The machine's clocks: UTC wall time, ``time.monotonic`` and token-aware sleeps."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float, stop: CancelToken) -> None:
        """Sleep up to ``seconds``; a cancel of ``stop`` ends the sleep at once."""
        try:
            stop.sleep(seconds)
        except CancelledError:
            return
