"""Monitoring: ``monitor check`` (health checks), ``monitor alerts`` (alert history) and
``monitor test-notify`` (a test alert to the channels).

The checks and their evaluation live in :mod:`keyark.monitor`; the alert history is
:class:`~keyark.monitor.alert_store.AlertStore` in the state directory (the run
history's); delivery is :mod:`keyark.notify`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.monitor.alert_store import AlertStore as AlertStore
from keyark.monitor.alert_store import Delivery as Delivery
from keyark.monitor.checks import CHECK_NAMES as CHECK_NAMES
from keyark.monitor.model import Alert as Alert
from keyark.monitor.model import CheckResult as CheckResult
from keyark.monitor.model import Level as Level
from keyark.monitor.model import overall_exit_code
from keyark.monitor.service import MonitorLoop as MonitorLoop
from keyark.ops.catalogue import operation
from keyark.ops.jobs import state_store


def monitor_state_dir(config: KeyarkConfig, state_dir: Path | None = None) -> Path:
    """The state directory the alert history lives in (the run history's)."""
    return state_store(config, state_dir).directory


@dataclass(frozen=True)
class MonitorCheckOptions:
    """Which checks to run (default: all), from which config; whether to raise alerts."""

    config: KeyarkConfig
    #: Check names (``backup_age``, ``disk``, ...); empty: every check.
    checks: list[str] = field(default_factory=list)
    #: Record level changes and job events as alerts (and hand them to the channels).
    record: bool = True
    #: Hand the new alerts to the notification channels.
    notify: bool = True
    #: The state directory; None: the config's ``scheduler.state_dir`` or the default.
    state_dir: Path | None = None
    #: Name files in the messages; False: the checks about files (certificates, private
    #: keys) say only their verdict (for a viewer who may see health but no file names).
    names: bool = True


#: The checks whose messages name files of a snapshot.
_FILE_CHECKS = frozenset({"certificates", "private_keys"})
#: What such a check says instead when names are left out.
_NAMELESS = "details need the metadata permission"


def _nameless(result: CheckResult) -> CheckResult:
    return replace(result, message=_NAMELESS) if result.check in _FILE_CHECKS else result


@dataclass
class MonitorReport:
    """Every check's result, the alerts the round raised, and the Nagios exit code."""

    results: list[CheckResult]
    alerts: list[Alert] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all OK, 1 a WARNING, 2 a CRITICAL, 3 a check could not run (CRITICAL wins)."""
        return overall_exit_code([result.level for result in self.results])

    @property
    def status(self) -> str:
        """``ok``, ``warning``, ``critical`` or ``unknown``."""
        return ("ok", "warning", "critical", "unknown")[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "monitor_check",
            "status": self.status,
            "exit_code": self.exit_code,
            "results": [result.to_dict() for result in self.results],
            "alerts": [alert.to_dict() for alert in self.alerts],
        }


@operation("monitor check", options=MonitorCheckOptions, result=MonitorReport, mutates=False)
def monitor_check(ctx: OperationContext, options: MonitorCheckOptions) -> MonitorReport:
    """Run the health checks once (exit status as a Nagios plugin)."""
    from keyark.monitor.service import flush_deliveries, monitor_round

    unknown = [name for name in options.checks if name not in CHECK_NAMES]
    if unknown:
        raise UsageError(f"unknown check {unknown[0]!r}; the checks are: {', '.join(CHECK_NAMES)}")
    outcome = monitor_round(
        options.config,
        monitor_state_dir(options.config, options.state_dir),
        ctx=ctx,
        checks=list(options.checks) or None,
        record=options.record,
        notify=options.notify,
    )
    if options.record and options.notify and outcome.alerts:
        flush_deliveries()
    if not options.names:
        alerts = [_nameless_alert(a) for a in outcome.alerts]
        return MonitorReport([_nameless(r) for r in outcome.results], alerts)
    return MonitorReport(outcome.results, outcome.alerts)


def _nameless_alert(alert: Alert) -> Alert:
    """``alert`` without file names (an alert's key is ``check:subject``)."""
    named = alert.key.partition(":")[0] in _FILE_CHECKS
    return replace(alert, message=_NAMELESS) if named else alert


@dataclass(frozen=True)
class MonitorAlertsOptions:
    """Which alerts of the history to list."""

    config: KeyarkConfig
    #: Only alerts raised since then.
    since: datetime | None = None
    #: Only alerts at least this bad (a resolved alert counts at the level it ended).
    level: Level | None = None
    #: At most this many (the newest).
    limit: int | None = None
    state_dir: Path | None = None
    #: Name files in the messages (see :class:`MonitorCheckOptions`).
    names: bool = True


@dataclass
class AlertHistory:
    """Alerts, oldest first."""

    alerts: list[Alert]

    def to_dict(self) -> dict[str, Any]:
        return {"alerts": [alert.to_dict() for alert in self.alerts]}


@operation("monitor alerts", options=MonitorAlertsOptions, result=AlertHistory, mutates=False)
def monitor_alerts(ctx: OperationContext, options: MonitorAlertsOptions) -> AlertHistory:
    """List the alert history (check transitions and job events)."""
    store = AlertStore.of(options.config, monitor_state_dir(options.config, options.state_dir))
    found = store.alerts(since=options.since, min_level=options.level, limit=options.limit)
    if not options.names:
        found = [_nameless_alert(a) for a in found]
    return AlertHistory(found)


@dataclass(frozen=True)
class TestNotifyOptions:
    """Send a test alert to one channel (by name) or to every enabled one."""

    config: KeyarkConfig
    channel: str | None = None
    #: How long to wait for the deliveries (retries included), seconds.
    timeout: float = 60.0
    state_dir: Path | None = None


@dataclass
class TestNotifyResult:
    """The test alert and what became of it on each channel."""

    alert: Alert
    deliveries: list[Delivery]

    @property
    def ok(self) -> bool:
        """Whether every channel accepted it."""
        return bool(self.deliveries) and all(d.status == "sent" for d in self._final())

    def _final(self) -> list[Delivery]:
        newest: dict[str, Delivery] = {}
        for delivery in self.deliveries:
            newest[delivery.channel] = delivery
        return list(newest.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "test_notify",
            "ok": self.ok,
            "alert": self.alert.to_dict(),
            "deliveries": [delivery.to_dict() for delivery in self._final()],
        }


@operation("monitor test-notify", options=TestNotifyOptions, result=TestNotifyResult, mutates=True)
def monitor_test_notify(ctx: OperationContext, options: TestNotifyOptions) -> TestNotifyResult:
    """Send a test alert to the notification channels and report each delivery."""
    from keyark.monitor.service import deliver, flush_deliveries

    store = AlertStore.of(options.config, monitor_state_dir(options.config, options.state_dir))
    host = os.uname().nodename
    now = datetime.now(UTC)
    alert = store.record(
        Alert(
            key="test",
            level=Level.INFO,
            title=f"keyark test alert from {host}",
            message="A test alert: this channel delivers keyark's alerts.",
            time=now,
            kind="test",
        )
    )
    channels = [options.channel] if options.channel else None
    if not deliver(options.config, [alert], store, channels):
        raise UsageError("this build has no notification channels")
    flush_deliveries(options.timeout)
    deliveries = [d for d in store.deliveries(key="test", since=now) if d.alert == alert.id]
    if options.channel and not deliveries:
        raise UsageError(f"no enabled notification channel named {options.channel!r}")
    if not deliveries:
        raise UsageError("no notification channel is configured")
    return TestNotifyResult(alert, deliveries)


def failed_deliveries(config: KeyarkConfig, since: datetime | None = None) -> list[Delivery]:
    """Deliveries that failed (each failed attempt), oldest first: ``daemon status`` shows them."""
    store = AlertStore.of(config, monitor_state_dir(config))
    if not config.server.database and not store.path.exists():
        return []
    return store.deliveries(status="failed", since=since)
