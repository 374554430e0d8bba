"""The monitor's ``drill`` check and the drill metrics over a real run history: the last
drill's result and age against the drill task's cadence, per job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.metrics.history import drill_facts
from keyark.monitor.checks.drills import drill
from keyark.monitor.environment import CheckEnvironment
from keyark.monitor.model import Level
from keyark.state.runs import RunRecord, RunStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _config(**maintenance: Any) -> KeyarkConfig:
    return KeyarkConfig.model_validate(
        {
            "version": 1,
            "repositories": {"main": {"url": "/tmp/a"}},
            "jobs": {
                name: {"repository": "main", "sources": ["/etc"]} for name in ("web", "db", "tls")
            },
            "maintenance": maintenance,
            "scheduler": {"timezone": "UTC"},
        }
    )


def _drilled(store: RunStore, job: str, status: str, ago: timedelta, seconds: float) -> None:
    ended = NOW - ago
    store.record(
        RunRecord(
            job=f"drill:{job}",
            kind="drill",
            trigger="schedule",
            status=status,
            started=ended - timedelta(seconds=seconds),
            finished=ended,
            duration=seconds,
            error=None if status == "success" else "/srv/web/a.key: damaged data",
        )
    )


def test_drill_check_levels_against_the_cadence(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    _drilled(store, "web", "success", timedelta(hours=20), 4.5)
    _drilled(store, "db", "success", timedelta(hours=30), 2.0)  # one daily drill missed
    _drilled(store, "tls", "success", timedelta(hours=1), 1.0)
    _drilled(store, "tls", "failed", timedelta(minutes=5), 1.0)
    config = _config(drill={"schedule": "0 3 * * *"})
    env = CheckEnvironment(config, NOW, store, tmp_path / "state")
    results = {result.subject: result for result in drill(env)}
    assert set(results) == {"web", "db", "tls"}
    assert results["web"].level == Level.OK and "restored in 4.5s" in results["web"].message
    assert results["db"].level == Level.WARNING and "older than the drill cadence" in (
        results["db"].message
    )
    assert results["tls"].level == Level.WARNING and "failed" in results["tls"].message
    assert "damaged data" in results["tls"].message


def test_drill_check_without_a_task(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    env = CheckEnvironment(_config(), NOW, store, tmp_path / "state")
    [only] = drill(env)
    assert only.level == Level.INFO and "maintenance.drill" in only.message
    _drilled(store, "web", "success", timedelta(days=400), 3.0)  # no cadence: age alone is ok
    [web] = drill(env)
    assert (web.subject, web.level) == ("web", Level.OK)


def test_drill_metrics_facts(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    _drilled(store, "web", "success", timedelta(hours=2), 4.5)
    _drilled(store, "web", "failed", timedelta(hours=1), 6.0)
    store.record(RunRecord(job="web", kind="backup", trigger="manual", status="success"))
    facts = {f.name: f for f in drill_facts(store, ["web", "db"])}
    assert set(facts) == {"web"}, "a job never drilled has no drill series"
    assert facts["web"].last_duration == 6.0
    assert facts["web"].last_success == NOW - timedelta(hours=2)
