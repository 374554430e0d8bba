"""Retries of transient backend errors, with exponential backoff and full jitter.

Only :class:`~keyark.errors.TransientBackendError` is retried, a bounded number of
times; every other error (not found, already exists, permanent) passes through at
once. Each retry is logged at WARNING on ``keyark.backend`` with the operation, the
object name and the backend's own (credential-free) error message, and reported as a
:class:`~keyark.events.Retry` event to the operation's :class:`~keyark.events.Events`.
The backoff sleeps on the operation's :class:`~keyark.cancel.CancelToken`: a cancel
ends it at once with :class:`~keyark.errors.CancelledError`.

Retrying is safe for every operation: a ``put`` whose response was lost is retried
and then finds identical content, which is success; a ``delete`` whose response was
lost finds nothing on retry, which is also treated as success; a listing that
breaks off is restarted and never yields a name twice.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from keyark.backends.base import Backend, ObjectInfo
from keyark.backends.wrapper import BackendWrapper
from keyark.cancel import NEVER, CancelToken
from keyark.errors import NotFoundError, TransientBackendError
from keyark.events import Events

log = logging.getLogger("keyark.backend")

T = TypeVar("T")

DEFAULT_ATTEMPTS = 6
DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 30.0


class RetryingBackend(BackendWrapper):
    """Wraps a backend and retries its transient failures."""

    def __init__(
        self,
        inner: Backend,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        *,
        sleep: Callable[[float], None] | None = None,
        seed: int | None = None,
        events: Events | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        """``events`` receives a Retry event per retry; ``cancel`` ends a backoff (and
        stops before the next attempt). ``sleep`` replaces the cancellable sleep (tests)."""
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        super().__init__(inner)
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.events = events
        self.cancel = cancel or NEVER
        self._sleep = sleep or self.cancel.sleep
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        #: Number of retries made so far (for tests and metrics).
        self.retries = 0

    def _delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        with self._random_lock:
            return self._random.uniform(0.0, ceiling)

    def _backoff(self, operation: str, what: str, attempt: int, error: Exception) -> None:
        """Sleep before retry ``attempt`` (1-based), or re-raise when out of attempts."""
        if attempt >= self.attempts:
            if self.attempts > 1:
                raise TransientBackendError(
                    f"{error} (gave up after {self.attempts} attempts)"
                ) from None
            raise error
        delay = self._delay(attempt)
        self.retries += 1
        log.warning(
            "%s %s failed on %s: %s; retry %d of %d in %.2fs",
            operation,
            what,
            self.inner.location(),
            error,
            attempt,
            self.attempts - 1,
            delay,
        )
        if self.events is not None:
            self.events.retry(attempt, delay, f"{operation} {what}: {error}")
        self._sleep(delay)
        self.cancel.check()

    def _call(self, operation: str, what: str, function: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return function()
            except TransientBackendError as error:
                self._backoff(operation, what, attempt, error)
                attempt += 1

    # -- the protocol ----------------------------------------------------------------
    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        """The inner ``put``, retried (a retry that finds its own upload succeeds)."""
        self._call("put", name, lambda: self.inner.put(name, data, overwrite=overwrite))

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """The inner ``get``, retried."""
        return self._call("get", name, lambda: self.inner.get(name, offset, length))

    def stat(self, name: str) -> ObjectInfo:
        """The inner ``stat``, retried."""
        return self._call("stat", name, lambda: self.inner.stat(name))

    def delete(self, name: str) -> None:
        """The inner ``delete``, retried; "not found" after a retry is success (an
        earlier attempt deleted it but its response was lost)."""
        attempt = 1
        while True:
            try:
                self.inner.delete(name)
                return
            except NotFoundError:
                if attempt == 1:
                    raise
                # An earlier attempt deleted it but its response was lost.
                log.debug("delete %s: gone after a retried attempt", name)
                return
            except TransientBackendError as error:
                self._backoff("delete", name, attempt, error)
                attempt += 1

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """The inner listing, restarted after a transient error; never a name twice."""
        seen: set[str] = set()
        attempt = 1
        while True:
            progressed = False
            try:
                for info in self.inner.list(prefix):
                    if info.name not in seen:
                        seen.add(info.name)
                        progressed = True
                        yield info
                return
            except TransientBackendError as error:
                if progressed:
                    attempt = 1  # a long listing that moves on gets fresh attempts
                self._backoff("list", prefix or "(all)", attempt, error)
                attempt += 1

    def _create_container(self, create: Callable[[], None]) -> None:
        self._call("create", "bucket/container", create)
