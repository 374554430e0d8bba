"""The tree finisher: one thread that stores each directory's tree once its children
are done, fed in batches.

A backup's walk hands every directory it lists to the finisher, which waits for the
directory's files and subdirectories and then encodes and stores its tree. Handing
each directory over on its own woke the finisher thread once per directory, and every
wake-up took the interpreter lock from the walk: with tens of thousands of unchanged
directories, the hand-offs cost more than the trees. Directories are therefore handed
over :data:`BATCH` at a time, in the order they were given, and run in that order.

That order is what makes waiting safe: a directory's subdirectories are always given
before it (the walk finishes a subdirectory's listing before its parent's), so by the
time a directory runs, every subtree it waits for has run before it on the same
thread. A future the finisher gives hands the queue over when waited for
(:class:`_Queued`), so whoever waits for a tree (the root's) never waits for a
directory still queued; :meth:`TreeFinisher.shutdown` flushes too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

#: Directories handed to the finisher thread at a time.
BATCH = 64

A = TypeVar("A")
R = TypeVar("R")


class TreeFinisher(Generic[A, R]):
    """Runs ``work(item)`` on one thread, in the order given, :data:`BATCH` at a time."""

    def __init__(self, work: Callable[[A], R], batch: int = BATCH) -> None:
        self._work = work
        self._batch = batch
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="keyark-tree")
        self._waiting: list[tuple[Future[R], A]] = []
        self._lock = threading.Lock()

    def submit(self, item: A) -> Future[R]:
        """Queue ``item``; its future is set once it ran (waiting for it flushes)."""
        future: Future[R] = _Queued(self)
        with self._lock:
            self._waiting.append((future, item))
            full = len(self._waiting) >= self._batch
        if full:
            self.flush()
        return future

    def flush(self) -> None:
        """Hand over what is queued (call before waiting for a future it gave)."""
        with self._lock:
            batch, self._waiting = self._waiting, []
            if batch:  # under the lock: batches reach the thread in the order queued
                self._pool.submit(self._run, batch)

    def shutdown(self) -> None:
        """Run what is queued and wait for the thread to finish."""
        self.flush()
        self._pool.shutdown(wait=True)

    def _run(self, batch: list[tuple[Future[R], A]]) -> None:
        for future, item in batch:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self._work(item)
            except BaseException as error:  # the waiter sees it, as from an executor
                future.set_exception(error)
            else:
                future.set_result(result)


class _Queued(Future[R]):
    """A future of the finisher: waiting for its result hands the queue over first."""

    def __init__(self, finisher: TreeFinisher[Any, R]) -> None:
        super().__init__()
        self._finisher = finisher

    def result(self, timeout: float | None = None) -> R:
        if not self.done():
            self._finisher.flush()
        return super().result(timeout)


__all__ = ["BATCH", "TreeFinisher"]
