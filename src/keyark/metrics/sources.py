"""The monitoring stores metrics read when they exist: health states, failed
notification deliveries and the certificate inventory of a job's newest snapshot.

The alert store is the config's (:meth:`keyark.monitor.alert_store.AlertStore.of`: SQLite
``alerts.db`` in the state directory, or the PostgreSQL of ``server.database``). Each is
optional: a state directory without an alert database has no health states and no
failures yet (a scrape never creates one), and a keyark without the inventory has no
certificate expiry; their series are then left out rather than made up.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext


def _alert_store(config: KeyarkConfig, state_dir: Path) -> Any | None:
    """The config's alert store, or None when it has none (nothing was checked or
    delivered yet) or this keyark has no monitoring."""
    try:
        module = importlib.import_module("keyark.monitor.alert_store")
    except ImportError:
        return None
    store = module.AlertStore.of(config, state_dir)
    return store if store.exists() else None


def health_levels(config: KeyarkConfig, state_dir: Path) -> dict[str, int]:
    """Check name -> the worst level its subjects were last seen at (0 OK ... 4 UNKNOWN).

    The alert store keeps one state per ``check:subject`` key; a metric without
    per-subject labels gives each check its worst subject.
    """
    store = _alert_store(config, state_dir)
    if store is None:
        return {}
    levels: dict[str, int] = {}
    for key, state in store.check_states().items():
        check = str(key).split(":", 1)[0]
        levels[check] = max(levels.get(check, 0), int(state.level))
    return levels


def failed_notifications(config: KeyarkConfig, state_dir: Path) -> dict[str, int]:
    """Channel -> deliveries that failed, ever (retries included in one delivery)."""
    store = _alert_store(config, state_dir)
    if store is None:
        return {}
    counts: dict[str, int] = store.failure_counts()
    return counts


@dataclass(frozen=True)
class _Expiry:
    snapshot_id: str
    not_after: datetime | None
    #: When a failed reading may be tried again (None: the reading succeeded).
    retry_at: float | None = None


class CertificateExpiry:
    """The earliest certificate expiry in a job's newest snapshot, from its inventory.

    A snapshot never changes, so its answer is kept for as long as it is the job's
    newest; a new successful run makes the next reading open the new one. A reading
    that failed (the repository unreachable) is tried again after ``retry_after``
    seconds, not at every scrape.
    """

    def __init__(
        self,
        retry_after: float,
        *,
        read: Callable[[KeyarkConfig, str, str], datetime | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_after = retry_after
        self._read = read or read_earliest_expiry
        self._clock = clock
        self._known: dict[str, _Expiry] = {}

    def earliest(self, config: KeyarkConfig, job: str, snapshot_id: str) -> datetime | None:
        """When the first certificate of ``snapshot_id`` (job ``job``) expires; None when
        it holds none, has no inventory, or this keyark has no inventory operation.

        A failed reading raises (for the caller to report) and is remembered: until
        ``retry_after`` has passed the answer is None without trying again.
        """
        known = self._known.get(job)
        stale = known is None or known.snapshot_id != snapshot_id
        if known is not None and known.retry_at is not None and self._clock() >= known.retry_at:
            stale = True
        if stale:
            self._known[job] = _Expiry(snapshot_id, None, self._clock() + self.retry_after)
            known = _Expiry(snapshot_id, self._read(config, job, snapshot_id))
            self._known[job] = known
        assert known is not None
        return known.not_after


def read_earliest_expiry(config: KeyarkConfig, job: str, snapshot_id: str) -> datetime | None:
    """The earliest ``not_after`` of the certificates the inventory of ``snapshot_id``
    (in job ``job``'s repository) lists; None when there is none."""
    try:
        inventory = importlib.import_module("keyark.ops.inventory")
    except ImportError:
        return None
    spec = config.jobs[job]
    ctx = OperationContext(config=config.repository(spec.repository))
    if ctx.agent_credential is not None:
        return None
    options = inventory.InventoryOptions(snapshot=snapshot_id, kinds=["certificate"])
    result = inventory.inventory(ctx, options)
    expiries = [
        finding.not_after
        for finding in result.findings
        if finding.kind == "certificate" and finding.not_after is not None
    ]
    if not expiries:
        return None
    earliest: datetime = min(expiries)
    return earliest if earliest.tzinfo else earliest.replace(tzinfo=UTC)
