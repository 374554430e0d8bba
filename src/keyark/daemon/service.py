"""``keyark daemon`` in the foreground: the process around the scheduler.

:func:`serve` loads the config file, takes the one-daemon lock, opens the run
history, sets up the log (standard error, the log file, syslog), starts the
:class:`~keyark.daemon.scheduler.Scheduler` in a thread and turns signals into its
controls:

- ``SIGTERM`` / ``SIGINT``: a graceful stop. The stop token is cancelled, running jobs
  are cancelled through their tokens and unwind (their repositories stay consistent,
  their runs end ``failed`` with code ``cancelled``); then the pid file is removed and
  the process exits 0. A second signal while that happens ends the process at once.
- ``SIGHUP``: reload the config file. A config that does not load is logged, every
  problem on its own line, and the running config is kept.

Once the scheduler has planned its catch-up runs it calls back: the pid file is
written (``daemon start`` waits for it) and systemd is told ``READY=1``. Signal
handlers only queue the signal; the main thread acts on it, so no lock is ever taken
inside a handler.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from keyark import __version__, ops
from keyark.cancel import CancelToken
from keyark.config.problems import ConfigFileError
from keyark.daemon import logs
from keyark.daemon.config_file import load_config
from keyark.daemon.notify import notify
from keyark.daemon.process import InstanceLock, PidFile
from keyark.errors import EXIT_ERROR, EXIT_OK, KeyarkError
from keyark.process import EXIT_TERMINATED

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig
    from keyark.daemon.scheduler import Scheduler

#: The signals that stop the daemon.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Put on the signal queue when the scheduler thread ends (no signal has number 0).
_SCHEDULER_ENDED = 0


@dataclass(frozen=True)
class DaemonPlaces:
    """Where a daemon of a config keeps its state, log and pid file."""

    state_dir: Path
    log_file: Path
    pid_file: Path

    @classmethod
    def of(cls, config: KeyarkConfig) -> DaemonPlaces:
        """The config's ``scheduler`` places, with the defaults under the state directory."""
        section = config.scheduler
        state_dir = (
            Path(section.state_dir).expanduser() if section.state_dir else ops.default_state_dir()
        )

        def place(value: str | None, default: str) -> Path:
            return Path(value).expanduser() if value else state_dir / default

        return cls(
            state_dir, place(section.log_file, "daemon.log"), place(section.pid_file, "daemon.pid")
        )


@contextmanager
def _signals_queued(signals: queue.SimpleQueue[int]) -> Iterator[None]:
    """While the block runs, SIGTERM, SIGINT and SIGHUP are put on ``signals``."""

    def on_signal(number: int, _frame: FrameType | None) -> None:
        signals.put(number)  # SimpleQueue.put is safe in a signal handler

    wanted = (*STOP_SIGNALS, signal.SIGHUP)
    previous = {number: signal.signal(number, on_signal) for number in wanted}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


class Daemon:
    """One foreground daemon: its config file, places, log, scheduler and signals."""

    def __init__(self, config_path: Path, *, debug: bool = False) -> None:
        self.config_path = config_path
        self.config = load_config(config_path)
        self.places = DaemonPlaces.of(self.config)
        self.debug = debug
        self.logger = logging.getLogger(logs.LOGGER_NAME)
        self._failure: BaseException | None = None
        self._monitor: ops.MonitorLoop | None = None

    def serve(self) -> int:
        """Run until stopped; 0 after a graceful stop, 1 if the scheduler failed."""
        syslog = self.config.scheduler.syslog
        self.logger = logs.configure(
            self.places.log_file,
            syslog_address=syslog.address if syslog else None,
            syslog_facility=syslog.facility if syslog else "daemon",
            debug=self.debug,
        )
        pid_file = PidFile(self.places.pid_file)
        try:
            with InstanceLock(pid_file):
                return self._serve_locked(pid_file)
        finally:
            logs.close()

    def _serve_locked(self, pid_file: PidFile) -> int:
        from keyark.daemon.scheduler import Scheduler

        pid = os.getpid()
        self.logger.info(
            "keyark %s daemon starting (pid %d, config %s, state %s)",
            __version__,
            pid,
            self.config_path,
            self.places.state_dir,
        )
        store = ops.state_store(self.config)
        monitor = ops.MonitorLoop(self.config, store.directory, logger=self.logger)
        self._monitor = monitor
        scheduler = Scheduler(self.config, store, logger=self.logger, on_run_end=monitor.run_ended)
        metrics = ops.start_metrics_server(lambda: self.config, store, self.logger)
        stop = CancelToken()
        signals: queue.SimpleQueue[int] = queue.SimpleQueue()

        def ready() -> None:
            pid_file.write(pid)
            self._audit("daemon start")
            monitor.start()
            notify("READY=1")
            self.logger.info("ready: %d jobs, pid file %s", len(self.config.jobs), pid_file.path)

        worker = threading.Thread(
            target=self._run_scheduler, args=(scheduler, stop, ready, signals), name="scheduler"
        )
        try:
            with _signals_queued(signals):
                worker.start()
                while True:
                    number = signals.get()
                    if number == _SCHEDULER_ENDED:
                        break
                    self._on_signal(number, scheduler, stop)
                worker.join()
        finally:
            monitor.stop()
            if metrics is not None:
                metrics.close()
            pid_file.remove(pid)
        self._audit("daemon stop")
        if self._failure is not None:
            return EXIT_ERROR
        self.logger.info("stopped")
        return EXIT_OK

    def _audit(self, event: str) -> None:
        """Record a daemon start or stop in each repository's audit log (logged if not)."""
        problem = ops.audit_event(self.config, event, ops.Actor.current())
        if problem is not None:
            self.logger.warning("the audit record of %s could not be written: %s", event, problem)

    def _run_scheduler(
        self,
        scheduler: Scheduler,
        stop: CancelToken,
        ready: Callable[[], None],
        signals: queue.SimpleQueue[int],
    ) -> None:
        try:
            scheduler.serve(stop, ready=ready)
        except BaseException as error:  # logged; the main thread exits 1
            self._failure = error
            self.logger.exception("the scheduler failed: %s", error)
        finally:
            signals.put(_SCHEDULER_ENDED)

    def _on_signal(self, number: int, scheduler: Scheduler, stop: CancelToken) -> None:
        name = signal.Signals(number).name
        if number == signal.SIGHUP:
            self.reload(scheduler)
            return
        if stop.cancelled:
            self.logger.warning("%s again while stopping: exiting at once", name)
            logging.shutdown()
            os._exit(EXIT_TERMINATED)
        self.logger.info("%s: stopping; running jobs are cancelled and unwind", name)
        notify("STOPPING=1")
        stop.cancel("terminated", EXIT_TERMINATED)

    def reload(self, scheduler: Scheduler) -> bool:
        """Load the config file again and hand it to ``scheduler``; keep the old one if it
        does not load (each problem is logged). Returns whether the new one is used."""
        self.logger.info("SIGHUP: reloading %s", self.config_path)
        try:
            config = load_config(self.config_path)
        except KeyarkError as error:
            self.logger.error(
                "reload failed, keeping the running config: %s does not load", self.config_path
            )
            problems = error.problems if isinstance(error, ConfigFileError) else [str(error)]
            for problem in problems:
                self.logger.error("  %s", problem)
            return False
        if DaemonPlaces.of(config) != self.places:
            self.logger.warning(
                "the state directory, log file and pid file stay as they are until a restart"
            )
        scheduler.reload(config)
        if self._monitor is not None:
            self._monitor.reload(config)
        self.config = config
        self.logger.info("reloaded: %d jobs", len(config.jobs))
        return True


def serve(config_path: Path, *, debug: bool = False) -> int:
    """Run the daemon of ``config_path`` in the foreground; its exit code."""
    return Daemon(config_path, debug=debug).serve()
