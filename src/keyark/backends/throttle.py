"""Bandwidth limits for a backend (``--limit-upload`` / ``--limit-download`` in KiB/s).

One token bucket per direction, shared by every thread using the wrapper: a
transfer reserves its bytes up front (the bucket may go into debt) and sleeps
until the reservation is covered, so concurrent transfers queue fairly and the
long-run rate stays at the limit. Uploads are charged before the inner ``put``,
downloads after the inner ``get`` (when their size is known). The bucket holds at
most 0.1 s of burst. Listing and ``stat`` are not limited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from keyark.backends.base import Backend, ObjectInfo
from keyark.backends.wrapper import BackendWrapper
from keyark.cancel import CancelToken

BURST_SECONDS = 0.1


class TokenBucket:
    """A thread-safe token bucket of ``rate`` bytes per second."""

    def __init__(
        self,
        rate: float,
        *,
        burst_seconds: float = BURST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = self.rate * burst_seconds
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self, amount: int) -> float:
        """Reserve ``amount`` bytes; sleep until they are covered. Returns the wait."""
        if amount <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class ThrottledBackend(BackendWrapper):
    """Wraps a backend and limits its upload and download bandwidth."""

    def __init__(
        self,
        inner: Backend,
        upload_kib_s: float | None = None,
        download_kib_s: float | None = None,
        *,
        cancel: CancelToken | None = None,
    ) -> None:
        super().__init__(inner)
        #: A cancel ends a bandwidth wait at once (CancelledError), as it ends a retry sleep.
        sleep = cancel.sleep if cancel is not None else time.sleep
        self.upload = TokenBucket(upload_kib_s * 1024, sleep=sleep) if upload_kib_s else None
        self.download = TokenBucket(download_kib_s * 1024, sleep=sleep) if download_kib_s else None

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        if self.upload is not None:
            self.upload.take(len(data))
        self.inner.put(name, data, overwrite=overwrite)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.inner.get(name, offset, length)
        if self.download is not None:
            self.download.take(len(data))
        return data

    def stat(self, name: str) -> ObjectInfo:
        return self.inner.stat(name)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, name: str) -> None:
        self.inner.delete(name)
