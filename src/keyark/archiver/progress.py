"""What a backup or restore run reports and checks: :class:`Tracker`.

A :class:`Tracker` carries the run's events (warnings go there), its cancel token
(:meth:`Tracker.check` is the checkpoint of every file, chunk and pack range) and
its progress: it counts files and bytes done (from any thread) and emits a
:class:`keyark.events.Progress` event per update (the emitter rate-limits them) and
a final one at the end. Totals are known up front for a restore (the plan); a
backup learns them from :func:`count_totals`, a background scan a face asks for
when it shows a percentage.
"""

from __future__ import annotations

import os
import stat
import threading

from keyark.archiver.filters import SourceFilter
from keyark.cancel import NEVER, CancelToken
from keyark.errors import CancelledError
from keyark.events import Events


class Tracker:
    """A run's events and cancel token, and its files and bytes done (and totals once
    known) in one phase; thread-safe."""

    def __init__(
        self,
        events: Events,
        phase: str,
        cancel: CancelToken = NEVER,
        *,
        files_total: int | None = None,
        bytes_total: int | None = None,
    ) -> None:
        self.events = events
        self.cancel = cancel
        self.phase = phase
        self.files_done = 0
        self.bytes_done = 0
        self.files_total = files_total
        self.bytes_total = bytes_total
        self._lock = threading.Lock()

    def check(self) -> None:
        """A checkpoint: raise :class:`CancelledError` if the run was cancelled."""
        self.cancel.check()

    def set_totals(self, files: int, size: int) -> None:
        """The totals, once known (the next event carries them)."""
        with self._lock:
            self.files_total, self.bytes_total = files, size

    def add(self, files: int = 0, size: int = 0, current: str | None = None) -> None:
        """Count ``files`` and ``size`` bytes more done; report (rate-limited)."""
        with self._lock:
            self.files_done += files
            self.bytes_done += size
        self._report(current, final=False)

    def finish(self) -> None:
        """Report where the phase ended (always emitted)."""
        self._report(None, final=True)

    def _report(self, current: str | None, *, final: bool) -> None:
        with self._lock:
            counts = (self.files_done, self.files_total, self.bytes_done, self.bytes_total)
        files_done, files_total, bytes_done, bytes_total = counts
        self.events.progress(
            self.phase,
            files_done=files_done,
            files_total=files_total,
            bytes_done=bytes_done,
            bytes_total=bytes_total,
            current=current,
            final=final,
        )


def count_totals(tracker: Tracker, sources: list[str], filters: SourceFilter) -> threading.Thread:
    """Count the regular files and bytes below ``sources`` in the background; the
    tracker gets them as its totals when the scan is done (a cancel ends it early)."""

    def scan() -> None:
        files = size = 0
        try:
            for source in sources:
                for dirpath, dirnames, filenames in os.walk(source):
                    tracker.check()
                    dirnames[:] = [
                        d for d in dirnames if not filters.excluded(os.path.join(dirpath, d))
                    ]
                    for name in filenames:
                        path = os.path.join(dirpath, name)
                        try:
                            st = os.lstat(path)
                        except OSError:
                            continue
                        if stat.S_ISREG(st.st_mode) and not filters.skips(path, st):
                            files += 1
                            size += st.st_size
                if os.path.isfile(source):
                    files += 1
                    size += os.path.getsize(source)
        except CancelledError:
            return
        tracker.set_totals(files, size)

    thread = threading.Thread(target=scan, daemon=True, name="keyark-scan")
    thread.start()
    return thread


__all__ = ["Tracker", "count_totals"]
