"""A backend wrapper that injects failures: a public testing tool.

Wrap any :class:`~keyark.backends.base.Backend` in :class:`FaultInjectingBackend` to
test what runs on it (keyark's own retries and recovery, or a program built on
keyark) against a storage that fails now and then.

Faults are drawn from a seeded random generator (deterministic for one thread):

* each operation fails with :class:`TransientBackendError` at ``transient_rate``;
* a failing ``put`` fails *after* the inner put at ``after_put_rate`` of the time,
  which simulates a lost response: the object is stored, the caller sees an error,
  and the retry must then succeed (identical content is success);
* a failing ``list`` may break off after yielding part of the names;
* with ``permanent_after=N``, every operation after the first N raises
  :class:`PermanentBackendError` (a backend that "dies").
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TypeVar

from keyark.backends.base import Backend, ObjectInfo
from keyark.backends.wrapper import BackendWrapper
from keyark.errors import PermanentBackendError, TransientBackendError

T = TypeVar("T")

ALL_OPERATIONS = frozenset({"put", "get", "stat", "list", "delete"})


class FaultInjectingBackend(BackendWrapper):
    """Wraps a backend and makes some of its operations fail on purpose."""

    def __init__(
        self,
        inner: Backend,
        transient_rate: float = 0.2,
        seed: int | None = None,
        *,
        permanent_after: int | None = None,
        after_put_rate: float = 0.5,
        operations: frozenset[str] = ALL_OPERATIONS,
    ) -> None:
        if not 0.0 <= transient_rate <= 1.0 or not 0.0 <= after_put_rate <= 1.0:
            raise ValueError("rates must be between 0 and 1")
        unknown = operations - ALL_OPERATIONS
        if unknown:
            raise ValueError(f"unknown operations: {sorted(unknown)}")
        super().__init__(inner)
        self.transient_rate = transient_rate
        self.after_put_rate = after_put_rate
        self.permanent_after = permanent_after
        self.operations = operations
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._calls = 0
        #: Faults injected so far, by kind (``put-before``, ``put-after``, ``get``, ...).
        self.injected: Counter[str] = Counter()

    def _draw(self, operation: str) -> float | None:
        """Count the call; a number in [0, 1) if this call is to fail, else None."""
        with self._lock:
            self._calls += 1
            if self.permanent_after is not None and self._calls > self.permanent_after:
                self.injected["permanent"] += 1
                raise PermanentBackendError(
                    f"injected permanent failure of {operation} on {self.location()}"
                )
            if operation not in self.operations:
                return None
            if self._random.random() < self.transient_rate:
                return self._random.random()
            return None

    def _fail(self, kind: str, what: str) -> TransientBackendError:
        with self._lock:
            self.injected[kind] += 1
        return TransientBackendError(f"injected transient failure ({kind}) on {what}")

    def _call(self, operation: str, what: str, function: Callable[[], T]) -> T:
        if self._draw(operation) is not None:
            raise self._fail(operation, what)
        return function()

    # -- the protocol ----------------------------------------------------------------
    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        fault = self._draw("put")
        if fault is None:
            self.inner.put(name, data, overwrite=overwrite)
            return
        if fault < self.after_put_rate:
            self.inner.put(name, data, overwrite=overwrite)
            raise self._fail("put-after", name)
        raise self._fail("put-before", name)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self._call("get", name, lambda: self.inner.get(name, offset, length))

    def stat(self, name: str) -> ObjectInfo:
        return self._call("stat", name, lambda: self.inner.stat(name))

    def delete(self, name: str) -> None:
        fault = self._draw("delete")
        if fault is None:
            self.inner.delete(name)
            return
        if fault < 0.5:
            self.inner.delete(name)
            raise self._fail("delete-after", name)
        raise self._fail("delete-before", name)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        fault = self._draw("list")
        if fault is None:
            yield from self.inner.list(prefix)
            return
        if fault < 0.5:
            raise self._fail("list", prefix or "(all)")
        # Break off part-way through: yield some names, then fail.
        items = list(self.inner.list(prefix))
        yield from items[: int(len(items) * fault)]
        raise self._fail("list-midway", prefix or "(all)")


__all__ = ["ALL_OPERATIONS", "FaultInjectingBackend"]
