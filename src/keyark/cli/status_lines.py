"""restic's ``status`` lines on stdout with ``--json``, for ``backup`` and ``restore``.

At most one line a second, the first at once; :meth:`StatusLines.flush` writes the
newest progress a rate limit held back, so the last ``status`` line before the
``summary`` shows where the run ended.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keyark.events import Event, Failed, Finished, ItemDone, Progress

if TYPE_CHECKING:
    from keyark.cli.render import Output

#: Seconds between two ``status`` lines.
STATUS_INTERVAL = 1.0

#: Builds a ``status`` message from a progress event and the seconds elapsed.
StatusShape = Callable[[Progress, float], dict[str, Any]]


class StatusLines:
    """Writes rate-limited ``status`` lines (and other JSON lines) to stdout; thread-safe."""

    def __init__(self, shape: StatusShape, interval: float = STATUS_INTERVAL) -> None:
        self.shape = shape
        self.interval = interval
        self._started = time.monotonic()
        self._last: float | None = None
        self._pending: Progress | None = None
        self._lock = threading.Lock()

    def write(self, data: dict[str, Any]) -> None:
        """One JSON line on stdout."""
        with self._lock:
            sys.stdout.write(json.dumps(data, default=str) + "\n")
            sys.stdout.flush()

    def progress(self, event: Progress) -> None:
        """A ``status`` line for ``event``, unless one was written less than a second ago."""
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self._pending = event
                return
            self._last, self._pending = now, None
        self.write(self.shape(event, now - self._started))

    def observe(self, event: Event) -> None:
        """Feed one event of the run: progress becomes a ``status`` line; at the end
        (``finished``/``failed``, before the face prints the summary) the held-back one."""
        if isinstance(event, Progress):
            self.progress(event)
        elif isinstance(event, (Finished, Failed)):
            self.flush()

    def flush(self) -> None:
        """Write the progress the rate limit held back, if any."""
        with self._lock:
            event, self._pending = self._pending, None
        if event is not None:
            self.write(self.shape(event, time.monotonic() - self._started))


class ItemView:
    """An event sink for a verb that lists its items (``-v``) and streams restic's
    ``status`` lines (``--json``); wraps :meth:`Output.event` for everything else.

    A subclass renders one item (:meth:`item`) and may take an event over before
    the default rendering (:meth:`takes`).
    """

    def __init__(
        self, out: Output, verbose: int, shape: StatusShape, *, dry_run: bool = False
    ) -> None:
        self.out = out
        self.verbose = verbose
        #: A dry run changes nothing: its item lines say what would be done.
        self.dry_run = dry_run
        self.lines = StatusLines(shape)

    @property
    def wants_items(self) -> bool:
        """Whether the operation should report every item (``-v`` or more)."""
        return self.verbose > 0

    def event(self, event: Event) -> None:
        """Render one event of the operation."""
        if isinstance(event, ItemDone):
            self.item(event)
            return
        if self.out.json:
            self.lines.observe(event)  # restic's status lines on stdout, before the summary
        if not self.takes(event):
            self.out.event(event)

    def item(self, event: ItemDone) -> None:
        """Render one item (a ``verbose_status`` line with ``--json``)."""
        raise NotImplementedError

    def takes(self, event: Event) -> bool:
        """Whether this view rendered ``event`` itself (default: never)."""
        return False


def seconds_remaining(event: Progress, elapsed: float) -> int | None:
    """An estimate from the bytes done so far (None until a total and some bytes are known)."""
    if event.bytes_total and event.bytes_done:
        remaining = event.bytes_total - event.bytes_done
        return max(0, int(elapsed * remaining / event.bytes_done))
    return None


def restore_status(event: Progress, elapsed: float) -> dict[str, Any]:
    """restic's restore ``status`` message for a progress event ``elapsed`` seconds in.

    ``files_restored`` and ``bytes_restored`` count the files done so far, skipped
    existing ones included (restic counts those apart, as ``files_skipped``).
    """
    data: dict[str, Any] = {
        "message_type": "status",
        "seconds_elapsed": int(elapsed),
        "percent_done": event.fraction or 0.0,
    }
    remaining = seconds_remaining(event, elapsed)
    if remaining is not None:
        data["seconds_remaining"] = remaining
    data["total_files"] = event.files_total or 0
    data["files_restored"] = event.files_done
    data["total_bytes"] = event.bytes_total or 0
    data["bytes_restored"] = event.bytes_done
    return data


__all__ = ["STATUS_INTERVAL", "ItemView", "StatusLines", "restore_status", "seconds_remaining"]
