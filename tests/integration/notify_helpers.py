"""Helpers of the notification tests: a config with channels, alerts, delivery records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.monitor.alert_store import AlertStore, Delivery
from keyark.monitor.model import Alert, Level
from keyark.notify.dispatch import flush


def config_with(*channels: dict[str, Any], timezone: str = "UTC") -> KeyarkConfig:
    """A config whose ``notifications`` are ``channels`` (each a dict as in the file)."""
    return KeyarkConfig.model_validate(
        {"version": 1, "notifications": list(channels), "scheduler": {"timezone": timezone}}
    )


def secret_file(directory: Path, name: str, text: str) -> str:
    """A 0600 file holding ``text`` (and a newline, as editors write it); its path."""
    path = directory / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def alert(
    key: str = "backup_age:tls",
    level: Level = Level.CRITICAL,
    *,
    kind: str = "transition",
    previous: Level | None = Level.OK,
    title: str = "job tls: no backup for 51 hours",
    message: str = "the newest successful run of tls is 51 hours old (critical: 50 hours)",
    store: AlertStore | None = None,
    time: datetime | None = None,
) -> Alert:
    """An alert (recorded in ``store`` when given, as the monitor does)."""
    made = Alert(key, level, title, message, time or datetime.now(UTC), kind, previous)
    return store.record(made) if store is not None else made


def settled(store: AlertStore, timeout: float = 20.0) -> list[Delivery]:
    """Every delivery record once the background is done."""
    assert flush(timeout), "deliveries still running after the timeout"
    return store.deliveries()
