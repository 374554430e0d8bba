"""A job's retention (``max_snapshots``, ``keep_within``), prune after forget, read-back
verify (with a tampered pack), copies, and the maintenance tasks."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from tests.integration.jobs_helpers import (
    check_ok,
    make_config,
    opened,
    run_task,
    snapshot_ids,
    steps,
)

from keyark import ops
from keyark.context import OperationContext
from keyark.events import Event, Events, Finished
from keyark.maintenance.retention import (
    OVER_CAP_REASON,
    RetentionPolicy,
    apply_policy,
)
from keyark.repo.snapshot import Snapshot
from keyark.units import CalendarDuration

BASE = datetime(2024, 1, 1, tzinfo=UTC)


def _snap(hours: int) -> Snapshot:
    moment = BASE + timedelta(hours=hours)
    return Snapshot(
        time=moment,
        host="h",
        username="u",
        paths=["/data"],
        tree=b"\0" * 32,
        id=f"{hours:08x}".ljust(64, "0"),
    )


# ------------------------------------------------------------------ policy (pure)
def test_max_snapshots_alone_keeps_the_newest_n() -> None:
    snapshots = [_snap(hour) for hour in range(6)]
    decisions = apply_policy(snapshots, RetentionPolicy(max_snapshots=2), UTC)
    assert [d.keep for d in decisions] == [True, True, False, False, False, False]
    assert decisions[2].reasons == [OVER_CAP_REASON.format(cap=2)]


def test_max_snapshots_caps_what_the_keep_rules_kept() -> None:
    snapshots = [_snap(hour * 24) for hour in range(10)]  # one a day
    policy = RetentionPolicy(daily=7, max_snapshots=3)
    decisions = apply_policy(snapshots, policy, UTC)
    assert sum(d.keep for d in decisions) == 3
    assert [d.keep for d in decisions[:3]] == [True, True, True]
    assert decisions[3].reasons == ["over max_snapshots 3"]
    # Control: without the cap the daily rule keeps seven.
    uncapped = apply_policy(snapshots, RetentionPolicy(daily=7), UTC)
    assert sum(d.keep for d in uncapped) == 7


def test_keep_within_with_a_cap_and_the_description() -> None:
    snapshots = [_snap(hour) for hour in range(48)]
    policy = RetentionPolicy(within=CalendarDuration(days=1), max_snapshots=5)
    assert sum(d.keep for d in apply_policy(snapshots, policy, UTC)) == 5
    assert not policy.is_empty()
    assert policy.describe().endswith("at most 5 snapshots")
    assert RetentionPolicy(max_snapshots=4).describe() == "keep at most 4 snapshots"


# ------------------------------------------------------------------ through jobs
def _job(tmp_path: Path, **fields: object) -> dict[str, object]:
    return {"repository": "main", "sources": [str(tmp_path / "src")], **fields}


def _new_content(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    tree.mkdir(exist_ok=True)
    (tree / "data.bin").write_bytes(os.urandom(200_000))


def test_max_snapshots_forgets_the_oldest_and_prune_frees_their_data(tmp_path: Path) -> None:
    retention = {"keep_last": 3, "max_snapshots": 2}
    config = make_config(
        tmp_path,
        {
            "capped": _job(tmp_path, retention=retention, prune="after-forget"),
            "other": {"repository": "main", "sources": [str(tmp_path / "other")]},
        },
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("another job's snapshot")
    other = run_task(tmp_path, config, "other").record.snapshot_id or ""
    made: list[str] = []
    for _ in range(4):
        _new_content(tmp_path)
        result = run_task(tmp_path, config, "capped")
        assert result.record.status == "success", result.record.error
        made.append(result.record.snapshot_id or "")

    assert snapshot_ids(tmp_path) == sorted([other, *made[-2:]])  # the other job's stays
    last = result.record
    assert [s.name for s in last.steps] == ["backup", "forget", "prune"]
    forget = next(s for s in last.steps if s.name == "forget")
    assert forget.detail == "1 snapshot(s) forgotten, 2 kept"
    prune = next(s for s in last.steps if s.name == "prune")
    assert prune.detail is not None and not prune.detail.startswith("0 ")
    check_ok(tmp_path)


def test_without_prune_the_forgotten_data_stays(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"capped": _job(tmp_path, retention={"max_snapshots": 1})})
    for _ in range(2):
        _new_content(tmp_path)
        result = run_task(tmp_path, config, "capped")
    assert "prune" not in steps(result)
    assert len(snapshot_ids(tmp_path)) == 1
    ctx = OperationContext(config=config.repository("main"), cache_dir=tmp_path / "cache")
    plan = ops.prune(ctx, ops.PruneOptions(dry_run=True)).plan
    assert plan.unused_blobs > 0  # control for the test above: prune had work to do


def _tamper_new_packs(repository: Path, before: set[Path]) -> list[Path]:
    changed = []
    for pack in sorted((repository / "data").rglob("*")):
        if pack.is_file() and pack not in before:
            data = bytearray(pack.read_bytes())
            data[len(data) // 3] ^= 0xFF
            pack.write_bytes(bytes(data))
            changed.append(pack)
    return changed


@pytest.mark.parametrize("verify", ["full", "none"])
def test_verify_reads_back_and_a_tampered_pack_fails_the_run(tmp_path: Path, verify: str) -> None:
    _new_content(tmp_path)
    config = make_config(tmp_path, {"job": _job(tmp_path, verify=verify)})
    repository = tmp_path / "main"
    before = set((repository / "data").rglob("*"))
    tampered: list[Path] = []

    def tamper_after_backup(event: Event) -> None:
        if isinstance(event, Finished) and event.operation == "backup":
            tampered.extend(_tamper_new_packs(repository, before))

    ctx = OperationContext(cache_dir=tmp_path / "cache", events=Events("", tamper_after_backup))
    result = run_task(tmp_path, config, "job", ctx)

    assert tampered, "the backup wrote no pack to tamper with"
    if verify == "none":  # control: without verify the damage goes unnoticed by the run
        assert result.record.status == "success"
        return
    assert result.record.status == "failed" and result.record.error_code == "verify"
    assert steps(result)["verify"] == "failed"
    assert "failed authentication" in (result.record.error or "")


def test_copy_to_puts_the_new_snapshot_in_each_target(tmp_path: Path) -> None:
    _new_content(tmp_path)
    config = make_config(
        tmp_path,
        {"job": _job(tmp_path, copy_to=["second"])},
        repositories=("main", "second"),
    )
    result = run_task(tmp_path, config, "job")
    assert result.record.status == "success", result.record.error
    assert steps(result)["copy second"] == "ok"
    assert len(snapshot_ids(tmp_path, "second")) == 1
    check_ok(tmp_path, "second")


def test_maintenance_check_prune_and_rotation_are_recorded_runs(tmp_path: Path) -> None:
    _new_content(tmp_path)
    maintenance = {
        "check": {"schedule": "@daily", "read_data_subset": "50%"},
        "prune": {"schedule": "@weekly", "repositories": ["main"]},
        "rotate": {"max_age_days": 30, "warn_days": 20},
    }
    config = make_config(
        tmp_path,
        {"job": _job(tmp_path)},
        repositories=("main", "second"),
        maintenance=maintenance,
    )
    run_task(tmp_path, config, "job")

    checked = run_task(tmp_path, config, "maintenance.check")
    assert checked.record.kind == "check" and checked.record.status == "success"
    assert set(steps(checked)) == {"check main", "check second"}
    pruned = run_task(tmp_path, config, "maintenance.prune")
    assert pruned.record.kind == "prune" and steps(pruned) == {"prune main": "ok"}

    fresh = run_task(tmp_path, config, "maintenance.rotate")
    assert fresh.record.status == "success"
    assert all("not due" in (s.detail or "") for s in fresh.record.steps)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=31), tick=True):
        due = run_task(tmp_path, config, "maintenance.rotate")
    assert due.record.status == "success", due.record.error
    assert all((s.detail or "").startswith("rotated") for s in due.record.steps)
    repo = opened(tmp_path)
    try:
        assert len(repo.keys.keyring.data_keys) == 2  # a second data key now exists
    finally:
        repo.close()
    kinds = [r.kind for r in ops.state_store(config).runs()]
    assert kinds == ["backup", "check", "prune", "rotate", "rotate"]


def test_a_damaged_repository_fails_the_scheduled_check(tmp_path: Path) -> None:
    _new_content(tmp_path)
    config = make_config(
        tmp_path,
        {"job": _job(tmp_path)},
        maintenance={"check": {"schedule": "@daily", "read_data": True}},
    )
    run_task(tmp_path, config, "job")
    assert run_task(tmp_path, config, "maintenance.check").record.status == "success"  # control
    _tamper_new_packs(tmp_path / "main", set())
    damaged = run_task(tmp_path, config, "maintenance.check")
    assert damaged.record.status == "failed" and damaged.record.error_code == "check"
