"""``keyark serve --with-daemon``: the scheduler and the monitor in the server's process.

The same pieces ``keyark daemon`` runs (:class:`keyark.daemon.scheduler.Scheduler`, the
monitor loop, the metrics endpoint of ``metrics.listen``, the one-daemon lock and pid
file of the config's state directory, ``daemon start``/``daemon stop`` audit records), in
background threads; the server's signal handling stops them (running jobs are cancelled
and unwind) before the process exits.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from keyark import ops
from keyark.cancel import CancelToken
from keyark.daemon.process import InstanceLock, PidFile
from keyark.daemon.service import DaemonPlaces
from keyark.process import EXIT_TERMINATED

if TYPE_CHECKING:
    from pathlib import Path

    from keyark.config.document import KeyarkConfig

log = logging.getLogger("keyark.daemon")


class EmbeddedDaemon:
    """The scheduler and monitor of ``config`` in threads of this process."""

    def __init__(self, config: KeyarkConfig, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        self.pid_file = PidFile(DaemonPlaces.of(config).pid_file)
        self._lock = InstanceLock(self.pid_file)
        self._stop = CancelToken()
        self._thread: threading.Thread | None = None
        self._monitor: ops.MonitorLoop | None = None
        self._metrics: ops.MetricsServer | None = None
        #: Set once the scheduler has planned its catch-up runs.
        self.ready = threading.Event()

    def start(self) -> None:
        """Take the one-daemon lock and start the scheduler and the monitor."""
        from keyark.daemon.scheduler import Scheduler

        self._lock.acquire()  # another daemon of this config: DaemonError
        store = ops.state_store(self.config, self.state_dir)
        monitor = ops.MonitorLoop(self.config, store.directory, logger=log)
        self._monitor = monitor
        scheduler = Scheduler(self.config, store, logger=log, on_run_end=monitor.run_ended)
        self._metrics = ops.start_metrics_server(lambda: self.config, store, log)

        def ready() -> None:
            self.pid_file.write(os.getpid())
            self._audit("daemon start")
            monitor.start()
            self.ready.set()
            log.info("scheduler ready: %d jobs", len(self.config.jobs))

        def serve() -> None:
            try:
                scheduler.serve(self._stop, ready=ready)
            except Exception:
                log.exception("the scheduler failed")

        self._thread = threading.Thread(target=serve, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 120.0) -> None:
        """Cancel running jobs, wait for them to unwind, stop the monitor, drop the lock."""
        self._stop.cancel("terminated", EXIT_TERMINATED)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._monitor is not None:
            self._monitor.stop()
        if self._metrics is not None:
            self._metrics.close()
        if self.ready.is_set():
            self._audit("daemon stop")
        self.pid_file.remove(os.getpid())
        self._lock.release()

    def _audit(self, event: str) -> None:
        """Record a start or stop in each repository's audit log (logged if it cannot be)."""
        problem = ops.audit_event(self.config, event, ops.Actor.current())
        if problem is not None:
            log.warning("the audit record of %s could not be written: %s", event, problem)


__all__ = ["EmbeddedDaemon"]
