"""A run's own cancel token: cancelled by the caller's token or by the job's timeout."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import TracebackType

from keyark.cancel import CancelToken
from keyark.errors import CancelledError, KeyarkError

#: How often the caller's token is looked at (it has no callback to chain to).
POLL_SECONDS = 0.1
#: The reason a timed-out run is cancelled with (its history row's ``error_code``).
TIMEOUT = "timeout"


class RunDeadline:
    """``with RunDeadline(parent, timeout) as token:`` a token for the run's steps.

    It is cancelled when ``parent`` is (same reason and exit code) or, with a timeout,
    when the time is up (reason ``timeout``). A watcher thread runs while the block does.
    """

    def __init__(self, parent: CancelToken, timeout: timedelta | None) -> None:
        self.parent = parent
        self.timeout = timeout
        self.token = CancelToken()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="keyark-run-deadline", daemon=True)

    @property
    def timed_out(self) -> bool:
        """Whether the run was cancelled by its timeout."""
        return self.token.cancelled and self.token.reason == TIMEOUT

    def _watch(self) -> None:
        limit = None if self.timeout is None else time.monotonic() + self.timeout.total_seconds()
        while not self._done.wait(POLL_SECONDS):
            if self.parent.cancelled:
                self.token.cancel(self.parent.reason, self.parent.exit_code)
                return
            if limit is not None and time.monotonic() >= limit:
                self.token.cancel(TIMEOUT)
                return

    def failure(self, error: KeyarkError) -> tuple[str, str]:
        """The history's (message, code) for ``error`` ending the run: a cancel is
        ``timeout`` when the job's time was up, else ``cancelled``."""
        if isinstance(error, CancelledError):
            if self.timed_out:
                assert self.timeout is not None
                return f"the run took longer than its {_seconds(self.timeout)} limit", TIMEOUT
            return f"the run was {self.token.reason}", "cancelled"
        return str(error), error.code

    def __enter__(self) -> CancelToken:
        if self.parent.cancelled:
            self.token.cancel(self.parent.reason, self.parent.exit_code)
        self._thread.start()
        return self.token

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()


def _seconds(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"
