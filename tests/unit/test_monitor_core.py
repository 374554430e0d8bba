"""The monitoring core in-process: levels and exit codes, level transitions into alerts,
the alert store's files and filters, the inventory verdicts (real ``Finding`` values) and
the system check on a fake ``/proc``."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keyark.config.document import KeyarkConfig, MonitorThresholds
from keyark.inventory.finding import Finding
from keyark.monitor.alert_store import AlertStore, Delivery
from keyark.monitor.checks import inventory, system
from keyark.monitor.environment import CheckEnvironment
from keyark.monitor.evaluate import run_checks, transitions
from keyark.monitor.model import Alert, CheckResult, Level, overall_exit_code
from keyark.state.runs import RunStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_exit_codes_follow_nagios_and_critical_outranks_unknown() -> None:
    assert overall_exit_code([Level.OK, Level.INFO]) == 0
    assert overall_exit_code([Level.OK, Level.WARNING]) == 1
    assert overall_exit_code([Level.WARNING, Level.UNKNOWN]) == 3
    assert overall_exit_code([Level.UNKNOWN, Level.CRITICAL, Level.WARNING]) == 2
    assert Level.parse("Warning") is Level.WARNING
    with pytest.raises(ValueError, match="unknown level"):
        Level.parse("loud")


def _result(level: Level, subject: str = "tls") -> CheckResult:
    return CheckResult("backup_age", subject, level, f"is {level.label}")


def test_a_level_alerts_once_and_its_end_is_a_resolved_alert(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "state")
    sequence = [Level.OK, Level.INFO, Level.WARNING, Level.WARNING, Level.CRITICAL, Level.OK]
    raised: list[tuple[str, Level, Level | None]] = []
    for step, level in enumerate(sequence):
        for alert in transitions([_result(level)], store, NOW + timedelta(minutes=step)):
            raised.append((alert.kind, alert.level, alert.previous))
    assert raised == [
        ("transition", Level.WARNING, Level.INFO),
        ("transition", Level.CRITICAL, Level.WARNING),
        ("resolved", Level.OK, Level.CRITICAL),
    ]
    state = store.check_state("backup_age:tls")
    assert state is not None and state.level is Level.OK
    assert state.since == NOW + timedelta(minutes=5)
    # an UNKNOWN (a check that cannot run) is trouble too
    [alert] = transitions([_result(Level.UNKNOWN)], store, NOW + timedelta(hours=1))
    assert (alert.kind, alert.level) == ("transition", Level.UNKNOWN)


def test_the_alert_store_is_private_and_filters(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    store = AlertStore(directory)
    first = store.record(Alert("job:a", Level.WARNING, "t", "m", NOW, "job"))
    store.record(
        Alert("job:a", Level.OK, "r", "m", NOW + timedelta(hours=1), "resolved", Level.CRITICAL)
    )
    store.record(Alert("job:b", Level.INFO, "i", "m", NOW + timedelta(hours=2), "job"))
    assert first.id is not None
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [a.title for a in store.alerts(min_level=Level.CRITICAL)] == ["r"]
    assert [a.title for a in store.alerts(min_level=Level.WARNING)] == ["t", "r"]
    assert [a.title for a in store.alerts(since=NOW + timedelta(minutes=30))] == ["r", "i"]
    assert [a.title for a in store.alerts(limit=1)] == ["i"]
    delivery = store.add_delivery(
        Delivery("mail", "job:a", Level.WARNING, "failed", NOW, first.id, 1, "refused")
    )
    delivery.status, delivery.attempts = "sent", 2
    store.update_delivery(delivery)
    store.add_delivery(Delivery("hook", "job:a", Level.WARNING, "failed", NOW, first.id, 3, "500"))
    last = store.last_sent("mail", "job:a", Level.WARNING)
    assert last is not None and last.attempts == 2
    assert store.failure_counts() == {"hook": 1}
    assert store.claim_run(7) and not store.claim_run(7)


def _finding(**fields: object) -> Finding:
    return Finding(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days", "level"),
    [(60, Level.OK), (29, Level.WARNING), (5, Level.CRITICAL), (-1, Level.CRITICAL)],
)
def test_certificate_expiry_levels(days: int, level: Level) -> None:
    findings = [
        _finding(
            kind="certificate", path="/etc/tls/a.pem", name="a", not_after=NOW + timedelta(days=400)
        ),
        _finding(
            kind="certificate",
            path="/etc/tls/b.pem",
            name="b",
            not_after=NOW + timedelta(days=days),
        ),
        _finding(kind="private_key", path="/etc/tls/b.key"),
    ]
    found, message, value = inventory.expiry(findings, MonitorThresholds(), NOW)
    assert found is level
    assert "b (/etc/tls/b.pem)" in message and value == pytest.approx(days)
    assert inventory.expiry([], MonitorThresholds(), NOW)[0] is Level.OK


def test_weak_and_exposed_keys() -> None:
    weak = _finding(kind="certificate", path="/a.pem", flags=("sha1-signature",))
    exposed = _finding(
        kind="private_key",
        path="/b.key",
        encrypted=False,
        flags=("unencrypted", "group-or-world-readable"),
    )
    readable_but_encrypted = _finding(
        kind="private_key", path="/d.key", encrypted=True, flags=("group-or-world-readable",)
    )
    private_and_owner_only = _finding(kind="private_key", path="/c.key", flags=("unencrypted",))
    assert inventory.weakness([private_and_owner_only])[0] is Level.OK
    assert inventory.weakness([weak, private_and_owner_only])[0] is Level.WARNING
    assert inventory.weakness([readable_but_encrypted])[0] is Level.WARNING
    level, message, _ = inventory.weakness([weak, exposed, readable_but_encrypted])
    assert level is Level.CRITICAL and "/b.key" in message and "/d.key" not in message


def _environment(tmp_path: Path, **thresholds: object) -> CheckEnvironment:
    config = KeyarkConfig.model_validate({"monitor": {"thresholds": thresholds}})
    return CheckEnvironment(config, NOW, RunStore(tmp_path / "state"), tmp_path / "state")


def test_system_levels_from_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    monkeypatch.setattr(system, "PROC", proc)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    (proc / "loadavg").write_text("9.00 5.00 1.00 1/100 4242\n")
    (proc / "meminfo").write_text(
        "MemTotal: 1000000 kB\nMemAvailable: 80000 kB\nSwapTotal: 1000 kB\nSwapFree: 1000 kB\n"
    )
    found = {r.subject: r.level for r in system.system(_environment(tmp_path))}
    # load 5.0 / 2 CPUs = 2.5 per CPU (warning 2); memory 92% (warning 90); no swap used
    assert found == {"load": Level.WARNING, "memory": Level.WARNING, "swap": Level.OK}
    (proc / "loadavg").unlink()
    found = {r.subject: r.level for r in system.system(_environment(tmp_path))}
    assert found["load"] is Level.UNKNOWN


def test_a_check_that_raises_is_unknown_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_env: CheckEnvironment) -> list[CheckResult]:
        raise RuntimeError("boom")

    monkeypatch.setattr(system, "system", broken)
    results = run_checks(_environment(tmp_path), ["system", "integrity"])
    assert [(r.check, r.level) for r in results] == [
        ("system", Level.UNKNOWN),
        ("integrity", Level.INFO),
    ]
    assert "boom" in results[0].message
