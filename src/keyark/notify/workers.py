"""Background workers: each runs its tasks one at a time, in due order, in a daemon thread.

The dispatcher keeps one worker for routing and one per channel, so a slow or
refusing channel delays only its own alerts. A worker's thread is a daemon thread:
it never keeps the process alive; :func:`Workers.wait_idle` lets a command wait for
what is queued before it exits.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

LOG = logging.getLogger("keyark.notify")


class Worker:
    """One thread running queued tasks at or after their due time (``time.monotonic``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None

    def put(self, task: Callable[[], None], *, delay: float = 0.0) -> None:
        """Run ``task`` once ``delay`` seconds have passed (and earlier tasks ran)."""
        with self._condition:
            heapq.heappush(self._tasks, (time.monotonic() + delay, next(self._order), task))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name=f"keyark-notify-{self.name}", daemon=True
                )
                self._thread.start()
            self._condition.notify_all()

    def idle(self) -> bool:
        """Whether nothing is queued or running."""
        with self._condition:
            return not self._tasks and not self._busy

    def _run(self) -> None:
        while True:
            with self._condition:
                while True:
                    if not self._tasks:
                        self._condition.wait()
                        continue
                    wait = self._tasks[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._condition.wait(wait)
                _, _, task = heapq.heappop(self._tasks)
                self._busy = True
            try:
                task()
            except Exception:  # a bug in a task must not stop later alerts
                LOG.exception("notification task failed")
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()


class Workers:
    """Workers by name, made on first use."""

    def __init__(self) -> None:
        self._workers: dict[str, Worker] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Worker:
        """The worker called ``name``."""
        with self._lock:
            worker = self._workers.get(name)
            if worker is None:
                worker = self._workers[name] = Worker(name)
            return worker

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every worker is idle (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                workers = list(self._workers.values())
            # twice: a task finishing between two looks may have queued another
            if all(worker.idle() for worker in workers) and all(
                worker.idle() for worker in workers
            ):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
