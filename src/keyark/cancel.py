"""Cancellation: one token per operation, honoured by every long loop.

A face cancels (the CLI on ``SIGINT``/``SIGTERM``, the daemon on shutdown, the
HTTP server on a client's request); the operation notices at its next checkpoint
(:meth:`CancelToken.check`: every file, pack, blob batch, retry sleep and lock
wait), raises :class:`CancelledError`, and unwinds through its ``finally`` blocks:
the lock object is deleted, temporary files are removed, and what a backup
uploaded stays in storage for the next run to adopt (``keyark.repo.adoption``).
Sleeps go through :meth:`CancelToken.sleep`, so a cancel ends them at once.
"""

from __future__ import annotations

import threading

from keyark.errors import EXIT_INTERRUPTED, CancelledError


class CancelToken:
    """A thread-safe flag an operation polls; cancelling wakes its sleeps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"
        #: What a command line exits with once the cancel is honoured (130 SIGINT, 143 SIGTERM).
        self.exit_code = EXIT_INTERRUPTED

    def cancel(self, reason: str = "cancelled", exit_code: int = EXIT_INTERRUPTED) -> None:
        """Ask the operation to stop at its next checkpoint (the first call's reason wins)."""
        if not self._event.is_set():
            self.reason, self.exit_code = reason, exit_code
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`CancelledError` if a cancel was asked for (a checkpoint)."""
        if self._event.is_set():
            raise CancelledError(f"operation {self.reason}", exit_code=self.exit_code)

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; a cancel ends the sleep by raising :class:`CancelledError`."""
        if self._event.wait(max(0.0, seconds)):
            self.check()


#: The token of an operation nobody cancels (the default of every context).
NEVER = CancelToken()

__all__ = ["NEVER", "CancelToken", "CancelledError"]
