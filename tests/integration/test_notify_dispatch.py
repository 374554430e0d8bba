"""The dispatcher against a real HTTP listener: routing by level, repeats suppressed,
retries with backoff recorded, a refusing channel never delays or fails a backup,
and the daily digest."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests import notify_servers as servers
from tests.conftest import make_tree
from tests.integration.notify_helpers import alert, config_with, settled
from tests.notify_servers import HTTPListener, free_port

from keyark.archiver.backup import BackupOptions, backup
from keyark.context import OperationContext
from keyark.monitor.alert_store import AlertStore
from keyark.monitor.model import Level
from keyark.notify.dispatch import deliver, failed_deliveries, flush
from keyark.repo.repository import Repository

http_listener = servers.http_listener  # the real HTTP listener fixture


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    return AlertStore(tmp_path / "state")


def _webhook(listener: HTTPListener, **extra: object) -> dict[str, object]:
    return {"type": "webhook", "url": listener.url("/hook"), "min_level": "info", **extra}


def _keys(listener: HTTPListener, count: int) -> list[tuple[str, str]]:
    return [
        (body["key"], body["level"])
        for body in (json.loads(request.body) for request in listener.wait_for(count))
    ]


def test_routing_by_min_level(store: AlertStore, http_listener: HTTPListener) -> None:
    config = config_with(_webhook(http_listener, min_level="warning"))
    deliver(
        config,
        [
            alert("system:load", Level.INFO),
            alert("disk:/", Level.WARNING),
            alert("backend:main", Level.CRITICAL),
            # resolved counts at the level it ended: a resolved warning reaches the channel
            alert("locks:main", Level.OK, kind="resolved", previous=Level.WARNING),
            alert("locks:aux", Level.OK, kind="resolved", previous=Level.INFO),
        ],
        store,
    )
    settled(store)
    assert sorted(_keys(http_listener, 3)) == [
        ("backend:main", "critical"),
        ("disk:/", "warning"),
        ("locks:main", "ok"),
    ]
    assert len(http_listener.inbox.items) == 3


def test_repeats_are_suppressed_but_another_level_is_sent(
    store: AlertStore, http_listener: HTTPListener
) -> None:
    config = config_with(_webhook(http_listener, repeat_interval="1h"))
    now = datetime.now(UTC)
    deliver(config, [alert("disk:/", Level.WARNING, store=store)], store, now=now)
    settled(store)
    deliver(config, [alert("disk:/", Level.WARNING, store=store)], store, now=now)
    settled(store)
    assert len(http_listener.inbox.items) == 1
    # positive control: the same key at another level is a new alert
    deliver(config, [alert("disk:/", Level.CRITICAL, store=store)], store, now=now)
    deliveries = settled(store)
    assert _keys(http_listener, 2) == [("disk:/", "warning"), ("disk:/", "critical")]
    assert [d.status for d in deliveries] == ["sent", "suppressed", "sent"]
    # after repeat_interval the same alert goes out again
    later = now + timedelta(hours=1, minutes=1)
    deliver(config, [alert("disk:/", Level.WARNING, store=store)], store, now=later)
    settled(store)
    assert _keys(http_listener, 3)[-1] == ("disk:/", "warning")
    # a test alert is never suppressed
    for _ in range(2):
        deliver(config, [alert("test", Level.INFO, kind="test")], store, now=later)
    settled(store)
    assert len(http_listener.wait_for(5)) == 5


def test_a_refusing_channel_is_retried_with_backoff_and_recorded(
    store: AlertStore, http_listener: HTTPListener
) -> None:
    http_listener.answers.extend([500, 503])
    config = config_with(_webhook(http_listener, retries=3, backoff="200ms"))
    sent = alert(store=store)
    deliver(config, [sent], store)
    arrivals: list[float] = []
    for count in (1, 2, 3):
        http_listener.wait_for(count)
        arrivals.append(time.monotonic())
    deliveries = settled(store)
    first_gap, second_gap = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
    assert first_gap >= 0.2 and second_gap >= 0.4  # 200ms, then doubled
    failed = [d for d in deliveries if d.status == "failed"]
    assert [(d.attempts, d.alert) for d in failed] == [(1, sent.id), (2, sent.id)]
    assert "HTTP 500" in (failed[0].error or "") and "HTTP 503" in (failed[1].error or "")
    [final] = [d for d in deliveries if d.status == "sent"]
    assert final.attempts == 3 and final.alert == sent.id
    assert failed_deliveries(store) == {"webhook": 2}


def test_a_closed_port_gives_up_after_the_retries(store: AlertStore) -> None:
    channel = {
        "type": "webhook",
        "name": "down",
        "url": f"http://127.0.0.1:{free_port()}/hook",
        "retries": 2,
        "backoff": "50ms",
    }
    deliver(config_with(channel), [alert()], store)
    deliveries = settled(store)
    assert [(d.status, d.attempts) for d in deliveries] == [
        ("failed", 3),  # the delivery itself, given up after attempt 3
        ("failed", 1),
        ("failed", 2),
    ]
    assert all("cannot post to http://127.0.0.1" in (d.error or "") for d in deliveries)
    assert failed_deliveries(store) == {"down": 3}
    # nothing was sent, so the same alert is not suppressed the next time
    deliver(config_with({**channel, "retries": 0}), [alert()], store)
    assert [d.status for d in settled(store)][-1] == "failed"
    assert failed_deliveries(store) == {"down": 4}


def test_deliver_returns_at_once_and_a_backup_succeeds_while_a_channel_refuses(
    tmp_path: Path, store: AlertStore, repo: Repository, context: OperationContext
) -> None:
    config = config_with(
        {
            "type": "webhook",
            "url": f"http://127.0.0.1:{free_port()}/hook",
            "retries": 3,
            "backoff": "300ms",
        }
    )
    started = time.monotonic()
    deliver(config, [alert()], store)
    assert time.monotonic() - started < 0.1  # the retries run in the background
    summary = backup(repo, BackupOptions([str(make_tree(tmp_path / "src"))]), context)
    assert summary.snapshot_id
    deliveries = settled(store)
    assert [d.status for d in deliveries].count("failed") == 4


def test_a_broken_config_or_state_never_raises(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the state directory should be")
    config = config_with({"type": "syslog", "address": "udp://127.0.0.1:9"})
    deliver(config, [alert()], AlertStore(blocked))  # the store cannot be opened
    assert flush(5)


def test_daily_digest_once_a_day(store: AlertStore, http_listener: HTTPListener) -> None:
    config = config_with(
        _webhook(http_listener, min_level="critical", digest="daily at 08:00"),
        timezone="Europe/Berlin",
    )
    morning = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    alert("disk:/", Level.WARNING, store=store, time=morning - timedelta(hours=3))
    alert("system:load", Level.INFO, store=store, time=morning - timedelta(hours=2))
    alert("old", Level.CRITICAL, store=store, time=morning - timedelta(days=2))
    deliver(config, [], store, now=morning - timedelta(minutes=1))
    settled(store)
    assert http_listener.inbox.items == []  # not yet 08:00
    deliver(config, [], store, now=morning + timedelta(minutes=1))
    settled(store)
    [request] = http_listener.wait_for(1)
    digest = json.loads(request.body)
    assert digest["kind"] == "digest" and digest["key"] == "digest:webhook"
    assert digest["title"] == "daily digest: 2 alerts (1 warning, 1 info)"
    assert "disk:/" in digest["message"] and "old" not in digest["message"]
    assert digest["level"] == "warning"
    deliver(config, [], store, now=morning + timedelta(hours=5))
    settled(store)
    assert len(http_listener.inbox.items) == 1  # once a day
    deliver(config, [], store, now=morning + timedelta(days=1, minutes=1))
    settled(store)
    assert json.loads(http_listener.wait_for(2)[1].body)["title"] == "daily digest: no alerts"
