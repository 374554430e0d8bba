"""Alerts to channels: routing by level, repeat suppression, retries, digests, records.

:func:`deliver` hands alerts to the background and returns at once: it never blocks
or fails the backup (or check) that raised them. In the background, for each
enabled channel of the config's ``notifications``:

- an alert less severe than the channel's ``min_level`` is not sent (a resolved alert
  counts at the level it ended; a ``test`` alert goes to every channel asked for);
- the same alert (key and level) sent to the channel within its ``repeat_interval``
  is recorded as ``suppressed`` instead;
- otherwise a ``pending`` delivery is recorded and attempted; each failed attempt is
  recorded (``failed``, attempt number, error) and retried after ``backoff``, doubled
  each time, up to ``retries`` times; the delivery ends ``sent`` or ``failed``.
- a channel with a ``digest`` gets, once a day at that time, a summary of the day's
  alerts (every call of :func:`deliver`, even with no alerts, looks whether one is due).

:func:`flush` waits for what is queued (a command about to exit);
:func:`failed_deliveries` counts failed attempts per channel (metrics, ``daemon
status``).
"""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from keyark.config.notifications import channel_names
from keyark.monitor.alert_store import AlertStore, Delivery
from keyark.monitor.model import Alert, Level
from keyark.notify.channels import Channel, DeliveryError, channel_for
from keyark.notify.channels.base import describe
from keyark.notify.digest import digest_alert, digest_due
from keyark.notify.message import routing_level
from keyark.notify.workers import Workers

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig
    from keyark.config.notifications import ChannelSpec

LOG = logging.getLogger("keyark.notify")
#: The longest wait between two attempts.
MAX_BACKOFF = timedelta(hours=1)
#: Alert kinds never suppressed as repeats nor filtered by level.
UNFILTERED = ("test", "digest")

_WORKERS = Workers()
#: (store, channel, key, level) of deliveries queued in this process and not yet over.
_PENDING: set[tuple[str, str, str, int]] = set()
_PENDING_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Route:
    """One channel as the background sees it."""

    name: str
    spec: ChannelSpec
    channel: Channel


def deliver(
    config: KeyarkConfig,
    alerts: Sequence[Alert],
    store: AlertStore,
    *,
    channels: Collection[str] | None = None,
    now: datetime | None = None,
) -> None:
    """Queue ``alerts`` for the config's channels (only those named in ``channels``, when
    given) and any digest that is due; returns at once, never raises."""
    try:
        moment = now or datetime.now(UTC)
        routes = _routes(config, channels)
        zone = config.scheduler.zone()
    except Exception as error:  # a broken config must not fail the caller
        LOG.warning("alerts not delivered: %s", describe(error))
        return
    if routes:
        # digests are looked at on general calls, not on sends to channels asked for
        digests = channels is None
        _WORKERS.get("").put(
            lambda: _route_all(routes, list(alerts), store, moment, zone if digests else None)
        )


def flush(timeout: float = 30.0) -> bool:
    """Wait until every queued delivery (retries included) is over; False on timeout."""
    return _WORKERS.wait_idle(timeout)


def failed_deliveries(store: AlertStore) -> dict[str, int]:
    """Failed delivery attempts per channel, ever (each retry that failed counts)."""
    return store.failure_counts()


def _routes(config: KeyarkConfig, wanted: Collection[str] | None) -> list[_Route]:
    specs = list(config.notifications)
    names = channel_names(specs)
    if wanted is not None:
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            LOG.warning("no channel named %s", ", ".join(unknown))
    return [
        _Route(name, spec, channel_for(spec, name))
        for spec, name in zip(specs, names, strict=True)
        if spec.enabled and (wanted is None or name in wanted)
    ]


def _route_all(
    routes: list[_Route],
    alerts: list[Alert],
    store: AlertStore,
    now: datetime,
    zone: tzinfo | None,
) -> None:
    """Decide, record and queue each (channel, alert); then the digests due (in ``zone``;
    None: no digests)."""
    for route in routes:
        for alert in alerts:
            try:
                _route_one(route, alert, store, now)
            except Exception as error:  # the state file: log, go on
                LOG.warning("alert %s for channel %s not queued: %s", alert.key, route.name, error)
        if zone is not None and route.spec.digest is not False:
            try:
                _digest(route, store, now, zone)
            except Exception as error:
                LOG.warning("digest for channel %s not queued: %s", route.name, error)


def _route_one(route: _Route, alert: Alert, store: AlertStore, now: datetime) -> None:
    if alert.kind not in UNFILTERED:
        if routing_level(alert) < Level.parse(route.spec.min_level):
            return
        if _repeat(route, alert, store):
            store.add_delivery(
                Delivery(route.name, alert.key, alert.level, "suppressed", now, alert=alert.id)
            )
            return
        # a recent delivery (sent or being sent, by any server sharing the store) suppresses
        _queue(route, alert, store, now, repeat_since=now - route.spec.repeat_interval)
        return
    _queue(route, alert, store, now)


def _repeat(route: _Route, alert: Alert, store: AlertStore) -> bool:
    """Whether this process is still getting this key at this level to the channel (the
    store's look, :meth:`AlertStore.queue_delivery`, covers the rest)."""
    with _PENDING_LOCK:
        return _marker(store, route, alert) in _PENDING


def _digest(route: _Route, store: AlertStore, now: datetime, zone: tzinfo) -> None:
    key = f"digest:{route.name}"
    with _PENDING_LOCK:
        where = str(store.path)
        if any(marker[:3] == (where, route.name, key) for marker in _PENDING):
            return
    last = store.last_sent(route.name, key)
    due = digest_due(route.spec, now, zone, None if last is None else _aware(last.time))
    if due is None:
        return
    included = [
        alert
        for alert in store.alerts(since=due - timedelta(days=1))
        if alert.kind not in UNFILTERED and _aware(alert.time) <= due
    ]
    alert = store.record(digest_alert(key, included, now, since=due - timedelta(days=1)))
    _queue(route, alert, store, now, repeat_since=due)  # another server's digest of ``due``


def _queue(
    route: _Route,
    alert: Alert,
    store: AlertStore,
    now: datetime,
    *,
    repeat_since: datetime | None = None,
) -> None:
    delivery = Delivery(route.name, alert.key, alert.level, "pending", now, alert=alert.id)
    if not store.queue_delivery(delivery, repeat_since):
        return  # recorded suppressed: sent (or being sent) recently
    marker = _marker(store, route, alert)
    with _PENDING_LOCK:
        _PENDING.add(marker)
    _WORKERS.get(route.name).put(lambda: _attempt(route, alert, delivery, store, marker))


def _attempt(
    route: _Route,
    alert: Alert,
    delivery: Delivery,
    store: AlertStore,
    marker: tuple[str, str, str, int],
) -> None:
    """One attempt; on failure record it and queue the next one, or give up."""
    attempt = delivery.attempts + 1
    started = clock.monotonic()
    try:
        route.channel.send(alert)
    except Exception as error:  # every failure is recorded, none escapes
        message = str(error) if isinstance(error, DeliveryError) else describe(error)
        _failed(route, alert, delivery, store, marker, attempt, message)
        return
    LOG.info(
        "alert %s (%s) sent to %s in %.2fs",
        alert.key,
        alert.level.label,
        route.name,
        clock.monotonic() - started,
    )
    _finish(store, replace(delivery, status="sent", attempts=attempt, error=None), marker)


def _failed(
    route: _Route,
    alert: Alert,
    delivery: Delivery,
    store: AlertStore,
    marker: tuple[str, str, str, int],
    attempt: int,
    message: str,
) -> None:
    now = datetime.now(UTC)
    if attempt > route.spec.retries:
        LOG.warning(
            "alert %s not delivered to %s after %d attempts: %s",
            alert.key,
            route.name,
            attempt,
            message,
        )
        final = replace(delivery, status="failed", attempts=attempt, error=message)
        _finish(store, final, marker)
        return
    wait = min(route.spec.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
    LOG.info(
        "alert %s to %s: attempt %d failed (%s); retrying in %.1fs",
        alert.key,
        route.name,
        attempt,
        message,
        wait.total_seconds(),
    )
    store.add_delivery(
        Delivery(route.name, alert.key, alert.level, "failed", now, alert.id, attempt, message)
    )
    waiting = replace(delivery, attempts=attempt, error=message)
    store.update_delivery(waiting)
    _WORKERS.get(route.name).put(
        lambda: _attempt(route, alert, waiting, store, marker), delay=wait.total_seconds()
    )


def _finish(store: AlertStore, delivery: Delivery, marker: tuple[str, str, str, int]) -> None:
    """Record how the delivery ended (its time stays the time the alert was queued:
    what repeat suppression and digests measure from)."""
    try:
        store.update_delivery(delivery)
    finally:
        with _PENDING_LOCK:
            _PENDING.discard(marker)


def _marker(store: AlertStore, route: _Route, alert: Alert) -> tuple[str, str, str, int]:
    return (str(store.path), route.name, alert.key, int(alert.level))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
