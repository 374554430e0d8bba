"""A monitoring round and the daemon's monitor loop.

:func:`monitor_round` runs the checks, records level changes and job events as alerts
in the alert store (:mod:`keyark.monitor.alert_store`) and hands them to the
notification dispatch (:func:`keyark.notify.dispatch.deliver`, which delivers in the
background). :class:`MonitorLoop` runs a round every ``monitor.interval`` in a thread
of the daemon, and a job-events-only round as soon as the scheduler says a run ended.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from keyark.cancel import CancelledError, CancelToken
from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.control.database import PostgresDatabase
from keyark.monitor.alert_store import AlertStore
from keyark.monitor.environment import CheckEnvironment
from keyark.monitor.evaluate import job_events, run_checks, transitions
from keyark.monitor.model import Alert, CheckResult, Level
from keyark.state.runs import RunStore

LOG = logging.getLogger("keyark.daemon")


@dataclass
class RoundOutcome:
    """What a round found and raised."""

    results: list[CheckResult] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def monitor_round(
    config: KeyarkConfig,
    state_dir: Path,
    *,
    ctx: OperationContext | None = None,
    checks: list[str] | None = None,
    record: bool = True,
    notify: bool = True,
    now: datetime | None = None,
) -> RoundOutcome:
    """Run ``checks`` (all when None); with ``record``, store level changes and job events
    as alerts; with ``notify`` also hand them to the channels (in the background)."""
    moment = now or datetime.now(UTC)
    runs = _runs(config, state_dir)
    env = CheckEnvironment(config, moment, runs, state_dir, ctx or OperationContext())
    outcome = RoundOutcome(run_checks(env, checks))
    if record:
        store = AlertStore.of(config, state_dir)
        outcome.alerts = transitions(outcome.results, store, moment)
        outcome.alerts += job_events(runs, store, moment)
        if notify:
            deliver(config, outcome.alerts, store)
    return outcome


def job_round(config: KeyarkConfig, state_dir: Path, *, notify: bool = True) -> list[Alert]:
    """Raise (and deliver) the job events of runs that ended since the last look."""
    store = AlertStore.of(config, state_dir)
    alerts = job_events(_runs(config, state_dir), store, datetime.now(UTC))
    if notify:
        deliver(config, alerts, store)
    return alerts


def _runs(config: KeyarkConfig, state_dir: Path) -> RunStore:
    """The run history of ``config``: on its shared control database, else in ``state_dir``."""
    url = config.server.database
    return RunStore(state_dir, database=PostgresDatabase(url) if url else None)


def deliver(
    config: KeyarkConfig,
    alerts: Sequence[Alert],
    store: AlertStore,
    channels: list[str] | None = None,
) -> bool:
    """Hand ``alerts`` to the notification dispatch; False when this build has none.

    Never raises: a delivery problem must not fail a check or a backup.
    """
    try:
        from keyark.notify.dispatch import deliver as dispatch
    except ImportError:
        return False
    try:
        dispatch(config, list(alerts), store, channels=channels)
    except Exception as error:
        LOG.warning("alerts not handed to the notification channels: %s", error)
    return True


def flush_deliveries(timeout: float = 30.0) -> bool:
    """Wait for the background deliveries of this process (a command about to exit)."""
    try:
        from keyark.notify.dispatch import flush
    except ImportError:
        return True
    return flush(timeout)


class MonitorLoop:
    """The daemon's monitor thread: a round every ``monitor.interval``; job events at once."""

    def __init__(
        self, config: KeyarkConfig, state_dir: Path, *, logger: logging.Logger | None = None
    ) -> None:
        self._config = config
        self._state_dir = state_dir
        self._log = logger or LOG
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._jobs_pending = False
        self._stop = CancelToken()
        self._thread: threading.Thread | None = None
        #: Rounds run so far (tests and status read it).
        self.rounds = 0

    def start(self) -> None:
        """Start the thread (the first round runs at once)."""
        self._thread = threading.Thread(target=self._serve, name="keyark-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current round; wait for the thread and queued deliveries."""
        self._stop.cancel("the daemon is stopping")
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        flush_deliveries(timeout)

    def reload(self, config: KeyarkConfig) -> None:
        """Use ``config`` from the next round on."""
        with self._lock:
            self._config = config
        self._wake.set()

    def run_ended(self) -> None:
        """A job or task run ended: raise its events now (the scheduler calls this)."""
        with self._lock:
            self._jobs_pending = True
        self._wake.set()

    def _serve(self) -> None:
        next_round = 0.0
        while not self._stop.cancelled:
            with self._lock:
                config, jobs = self._config, self._jobs_pending
                self._jobs_pending = False
            enabled = config.monitor.enabled
            now = time.monotonic()
            try:
                if enabled and now >= next_round:
                    self._round(config)
                    next_round = time.monotonic() + config.monitor.interval.total_seconds()
                elif jobs:
                    alerts = job_round(config, self._state_dir)
                    self._log_alerts(alerts)
            except CancelledError:
                break
            except Exception as error:  # the loop survives a bad round
                self._log.error("monitor round failed: %s", error)
                next_round = time.monotonic() + config.monitor.interval.total_seconds()
            wait = max(0.1, next_round - time.monotonic()) if enabled else 3600.0
            self._wake.wait(wait)
            self._wake.clear()

    def _round(self, config: KeyarkConfig) -> None:
        ctx = OperationContext(cancel=self._stop)
        outcome = monitor_round(config, self._state_dir, ctx=ctx)
        self.rounds += 1
        worst = max((result.level for result in outcome.results), default=None)
        self._log.info(
            "health checks: %d result(s), worst %s, %d alert(s)",
            len(outcome.results),
            worst.label if worst is not None else "none",
            len(outcome.alerts),
        )
        self._log_alerts(outcome.alerts)

    def _log_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            severity = logging.WARNING if alert.level >= Level.WARNING else logging.INFO
            self._log.log(
                severity, "alert %s: %s: %s", alert.level.label, alert.title, alert.message
            )
