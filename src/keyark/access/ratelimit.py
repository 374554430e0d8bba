"""Request rate limits: a token bucket per key (a token, a client address, a login name).

Each key may spend ``burst`` requests at once and earns ``rate`` per second back; a
request that finds its bucket empty is refused with the seconds until one request is
earned again (the ``Retry-After`` of a 429). Buckets live in the server process's memory
(a restart forgives); full buckets are forgotten so memory stays bounded.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from keyark.errors import RateLimitedError

#: Forget full buckets once this many keys are held.
_SWEEP_AT = 10_000


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """``per_minute`` requests a minute per key, ``burst`` at once (default: the minute's)."""

    def __init__(
        self,
        per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("a rate limit allows at least one request a minute")
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else per_minute)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def wait_for(self, key: str) -> float:
        """Spend one request of ``key``: 0.0 when allowed, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _SWEEP_AT:
                    self._sweep(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def check(self, key: str, what: str = "requests") -> None:
        """Spend one request of ``key``; RateLimitedError (with ``retry_after``) if none is left."""
        wait = self.wait_for(key)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimitedError(f"too many {what}; retry in {seconds} s", retry_after=seconds)

    def _sweep(self, now: float) -> None:
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.stamp) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


__all__ = ["RateLimiter"]
