"""``keyark monitor`` through the installed command: backup age against the job's cadence
(WARNING, CRITICAL, then resolved after a run), old data keys, a nearly full tmpfs, an S3
server that stops, a certificate about to expire, the Nagios exit codes, and the alert
history."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from tests.conformance.certs import certificate_pem
from tests.conftest import PASSWORD, mounted_tmpfs
from tests.e2e.monitor_cli import Monitored, levels

from keyark import ops
from keyark.crypto.slots import Credentials
from keyark.maintenance.root_rotation import rotate_root
from keyark.state.runs import RunRecord, RunStore

HOUR = timedelta(hours=1)
GRACE = HOUR / 12  # an hourly job's grace period (a twelfth of its cadence)


@pytest.fixture
def setup(tmp_path: Path) -> Monitored:
    return Monitored(tmp_path)


def _boundary(now: datetime, cadence: timedelta) -> datetime:
    """The newest ``every`` time (anchored at the epoch) at or before ``now``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((now - epoch) // cadence) * cadence


def _away_from_boundaries(cadence: timedelta, grace: timedelta) -> datetime:
    """Now, after waiting out the minute in which ``now - grace`` crosses a scheduled time
    (so the count of missed runs cannot change while a test runs)."""
    now = datetime.now(UTC)
    line = now - grace
    if line - _boundary(line, cadence) < timedelta(seconds=60):
        time.sleep(61)
        now = datetime.now(UTC)
    return now


def _success(store: RunStore, job: str, finished: datetime) -> RunRecord:
    record = RunRecord(
        job=job,
        kind="backup",
        trigger="schedule",
        status="success",
        started=finished - timedelta(seconds=5),
        finished=finished,
        duration=5.0,
    )
    return store.record(record)


def test_backup_age_warns_then_is_critical_then_resolves_after_a_run(setup: Monitored) -> None:
    setup.init_local("main")
    setup.jobs = {
        "hourly": {"repository": "main", "sources": [str(setup.source)], "schedule": "every 1h"},
        "weekly": {"repository": "main", "sources": [str(setup.source)], "schedule": "every 7d"},
        "late_weekly": {
            "repository": "main",
            "sources": [str(setup.source)],
            "schedule": "every 7d",
        },
    }
    setup.write()
    store = RunStore(setup.state)
    now = _away_from_boundaries(HOUR, GRACE)
    newest_due = _boundary(now - GRACE, HOUR)
    # one scheduled time (newest_due) passed its grace since the last success: WARNING
    row = _success(store, "hourly", newest_due - HOUR / 2)
    # a weekly job that ran at its last scheduled time is fine days later (no daily paging)
    week = timedelta(days=7)
    _success(store, "weekly", _boundary(now, week) + timedelta(seconds=1))
    # positive control: a weekly job that missed its last time warns
    _success(store, "late_weekly", _boundary(now, week) - timedelta(days=1))

    code, document = setup.check("backup_age")
    assert levels(document, "backup_age") == {
        "hourly": "warning",
        "weekly": "ok",
        "late_weekly": "warning",
    }
    assert code == 1
    assert [(a["key"], a["level"], a["kind"]) for a in document["alerts"]] == [
        ("backup_age:hourly", "warning", "transition"),
        ("backup_age:late_weekly", "warning", "transition"),
    ]

    # the same level again raises nothing
    code, document = setup.check("backup_age")
    assert code == 1 and document["alerts"] == []

    # two scheduled times missed: CRITICAL
    row.finished = newest_due - HOUR - HOUR / 2
    row.started = row.finished - timedelta(seconds=5)
    store.update(row)
    code, document = setup.check("backup_age")
    assert code == 2
    assert levels(document, "backup_age")["hourly"] == "critical"
    [alert] = document["alerts"]
    assert (alert["key"], alert["level"], alert["previous"]) == (
        "backup_age:hourly",
        "critical",
        "warning",
    )

    # a real run resolves it
    ran = setup.run("run", "hourly")
    assert ran.returncode == 0, ran.stderr
    code, document = setup.check("backup_age")
    assert levels(document, "backup_age")["hourly"] == "ok"
    resolved = [a for a in document["alerts"] if a["key"] == "backup_age:hourly"]
    assert [(a["level"], a["kind"], a["previous"]) for a in resolved] == [
        ("ok", "resolved", "critical")
    ]

    history = setup.alerts()
    assert [(a["key"], a["kind"], a["level"]) for a in history] == [
        ("backup_age:hourly", "transition", "warning"),
        ("backup_age:late_weekly", "transition", "warning"),
        ("backup_age:hourly", "transition", "critical"),
        ("backup_age:hourly", "resolved", "ok"),
    ]
    # a level filter keeps the resolution of a critical alert (it ended a CRITICAL)
    critical = setup.alerts("--level", "critical")
    assert [(a["kind"], a["level"]) for a in critical] == [
        ("transition", "critical"),
        ("resolved", "ok"),
    ]
    table = setup.run("monitor", "alerts", "--since", "1h")
    assert table.returncode == 0 and "RESOLVED: backup_age hourly" in table.stdout


def test_a_failed_then_recovered_run_raises_job_alerts(setup: Monitored) -> None:
    setup.init_local("main")
    setup.jobs = {"docs": {"repository": "main", "sources": [str(setup.source)]}}
    setup.write()
    code, _ = setup.check("last_run")  # the first look marks the history seen
    assert code == 0
    setup.jobs["docs"]["hooks"] = {"before": ["false"]}
    setup.write()
    assert setup.run("run", "docs").returncode == 1
    # The run raised its job alert at once (a manual run does not wait for the daemon)...
    raised = {(a["key"], a["kind"], a["level"]) for a in setup.alerts()}
    assert ("job:docs", "job", "critical") in raised
    code, document = setup.check("last_run")
    assert code == 2
    kinds = {(a["key"], a["kind"], a["level"]) for a in document["alerts"]}
    assert ("last_run:docs", "transition", "critical") in kinds
    assert ("job:docs", "job", "critical") not in kinds  # ...and only once
    del setup.jobs["docs"]["hooks"]
    setup.write()
    assert setup.run("run", "docs").returncode == 0
    assert "job docs recovered" in [a["title"] for a in setup.alerts()]
    code, document = setup.check("last_run")
    assert code == 0
    titles = [a["title"] for a in document["alerts"]]
    assert "RESOLVED: last_run docs" in titles
    assert [a["title"] for a in setup.alerts()].count("job docs recovered") == 1


def test_an_old_data_key_warns_and_a_very_old_one_is_critical(setup: Monitored) -> None:
    setup.init_local("fresh")
    for name, days in (("old", 85), ("older", 95)):
        location = setup.root / name
        with time_machine.travel(datetime.now(UTC) - timedelta(days=days), tick=True):
            ops.init_repository(str(location), PASSWORD.encode()).close()
        setup.add_repository(name, str(location))
    setup.write()
    code, document = setup.check("key_age", record=False)
    assert levels(document, "key_age") == {
        "fresh": "ok",
        "old": "warning",
        "older": "critical",
        **{f"{name}/root": "ok" for name in ("fresh", "old", "older")},  # < 365 days
    }
    assert code == 2
    old = next(r for r in document["results"] if r["subject"] == "old")
    assert old["threshold"] == "80/90 days" and round(old["value"]) == 85


def test_nagios_exit_codes_0_1_2_3(setup: Monitored) -> None:
    setup.init_local("main")
    setup.write()
    code, document = setup.check("key_age", "locks", record=False)
    assert (code, document["status"]) == (0, "ok")
    # a repository the config cannot open (wrong password): the check cannot run -> 3
    wrong = setup.root / "wrong-password"
    wrong.write_text("not the password\n")
    setup.repositories["main"]["password_file"] = str(wrong)
    setup.write()
    code, document = setup.check("key_age", record=False)
    assert (code, document["status"]) == (3, "unknown")
    assert levels(document, "key_age") == {"main": "unknown"}
    # CRITICAL outranks UNKNOWN: a missing repository makes backend critical
    setup.add_repository("gone", str(setup.root / "no-such-repository"))
    setup.write()
    code, document = setup.check("key_age", "backend", record=False)
    assert levels(document, "backend")["gone"] == "critical"
    assert code == 2
    # the table form exits the same way
    table = setup.run("monitor", "check", "--check", "backend", "--no-alerts")
    assert table.returncode == 2 and "CRITICAL" in table.stdout
    bad = setup.run("monitor", "check", "--check", "nonsense")
    assert bad.returncode == 1 and "unknown check 'nonsense'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_tmpfs_at_95_percent_is_critical(setup: Monitored) -> None:
    with mounted_tmpfs(setup.root / "small", size="1m") as mount:
        location = mount / "repo"
        result = (
            setup.keyark(
                "-r", str(location), "init", "--pack-size", "1", env={"KEYARK_PASSWORD": PASSWORD}
            )
            if False
            else setup.keyark("-r", str(location), "init", env={"KEYARK_PASSWORD": PASSWORD})
        )
        assert result.returncode == 0, result.stderr
        setup.add_repository("small", str(location))
        setup.write()

        def fill_to(percent: float) -> None:
            stats = os.statvfs(mount)
            used = stats.f_blocks - stats.f_bfree
            usable = used + stats.f_bavail
            want = int(usable * percent / 100) - used
            with open(mount / f"filler-{percent}", "wb") as handle:
                handle.write(b"\0" * max(0, want * stats.f_frsize))

        fill_to(85)
        code, document = setup.check("disk", record=False)
        assert levels(document, "disk")[str(mount)] == "warning"
        assert code == 1
        fill_to(96)
        code, document = setup.check("disk", record=False)
        found = next(r for r in document["results"] if r["subject"] == str(mount))
        assert found["level"] == "critical" and found["value"] >= 95
        assert "repository small" in found["message"]
        assert code == 2


def test_a_stopped_s3_server_makes_backend_critical(
    setup: Monitored, tmp_path: Path, session_env: pytest.MonkeyPatch
) -> None:
    from tests.conformance.servers import start_moto

    (tmp_path / "moto").mkdir()
    server, endpoint = start_moto(tmp_path / "moto")
    try:
        setup.env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
        url = "s3://monitored/repo"
        result = setup.keyark(
            "-r", url, "init", "--s3-endpoint", endpoint, env={"KEYARK_PASSWORD": PASSWORD}
        )
        assert result.returncode == 0, result.stderr
        setup.add_repository("s3", url, s3={"endpoint": endpoint})
        locked_url = "s3://locked/repo"
        result = setup.keyark(
            "-r",
            locked_url,
            "init",
            "--s3-endpoint",
            endpoint,
            "--s3-object-lock-days",
            "1",
            env={"KEYARK_PASSWORD": PASSWORD},
        )
        assert result.returncode == 0, result.stderr
        setup.add_repository("locked", locked_url, s3={"endpoint": endpoint})
        setup.write()
        code, document = setup.check("backend")
        assert (code, levels(document, "backend")) == (0, {"s3": "ok", "locked": "ok"})
        assert "Object Lock in force" in document["results"][1]["message"]

        # the locked repository's objects moved to a bucket without Object Lock (its
        # config still records the lock): CRITICAL
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="unlocked")
        for item in client.list_objects_v2(Bucket="locked")["Contents"]:
            source = {"Bucket": "locked", "Key": item["Key"]}
            client.copy_object(Bucket="unlocked", Key=item["Key"], CopySource=source)
        setup.repositories["locked"]["url"] = "s3://unlocked/repo"
        setup.write()
        code, document = setup.check("backend", record=False)
        assert levels(document, "backend") == {"s3": "ok", "locked": "critical"}
        assert "Object Lock is no longer in force" in document["results"][1]["message"]
        del setup.repositories["locked"]
        setup.write()

        server.stop()
        started = time.monotonic()
        code, document = setup.check("backend")
        assert levels(document, "backend") == {"s3": "critical"}
        assert "unreachable" in document["results"][0]["message"]
        assert code == 2
        assert time.monotonic() - started < 60
        [alert] = document["alerts"]
        assert (alert["key"], alert["level"]) == ("backend:s3", "critical")
    finally:
        server.stop()


def _certificate(path: Path, common_name: str, days: float) -> None:
    """A self-signed certificate for ``common_name`` valid for ``days`` more days."""
    path.write_bytes(certificate_pem(common_name, days=days, server=False)[0])


def test_a_certificate_expiring_in_5_days_alerts(setup: Monitored) -> None:
    setup.init_local("main")
    setup.jobs = {"tls": {"repository": "main", "sources": [str(setup.source)]}}
    setup.write()
    _certificate(setup.source / "later.pem", "later.example", 60)
    assert setup.run("run", "tls").returncode == 0
    code, document = setup.check("certificates", record=False)
    assert (code, levels(document, "certificates")) == (0, {"tls": "ok"})

    _certificate(setup.source / "soon.pem", "soon.example", 5)
    assert setup.run("run", "tls").returncode == 0
    # defaults: warning within 30 days, critical within 7
    code, document = setup.check("certificates", record=False)
    [result] = document["results"]
    assert (code, result["level"]) == (2, "critical")
    assert "soon.example" in result["message"] and 4.9 < result["value"] <= 5.0
    setup.extra = {"monitor": {"thresholds": {"cert_expiry_critical_days": 3}}}
    setup.write()
    code, document = setup.check("certificates")
    assert (code, levels(document, "certificates")) == (1, {"tls": "warning"})
    [alert] = document["alerts"]
    assert alert["key"] == "certificates:tls" and "soon.example" in alert["message"]


def test_an_old_root_key_warns_until_a_root_rotation(setup: Monitored) -> None:
    location = setup.root / "aged"
    with time_machine.travel(datetime.now(UTC) - timedelta(days=400), tick=True):
        ops.init_repository(str(location), PASSWORD.encode()).close()
    setup.add_repository("aged", str(location))
    setup.write()
    _code, document = setup.check("key_age", record=False)
    root = next(r for r in document["results"] if r["subject"] == "aged/root")
    assert root["level"] == "warning" and round(root["value"]) == 400, root
    repo = ops.open_repository(str(location), Credentials(passphrase=PASSWORD.encode()))
    try:
        rotate_root(repo)
    finally:
        repo.close()
    _code, document = setup.check("key_age", record=False)
    root = next(r for r in document["results"] if r["subject"] == "aged/root")
    assert root["level"] == "ok" and root["value"] < 1, root  # the rotation restarted its age
