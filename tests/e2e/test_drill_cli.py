"""``keyark drill`` through the installed command: a job's newest snapshot drilled in full
and as a 30% sample, recorded in the history and seen by the monitor and the metrics; a
flipped byte in a pack fails the drill naming the damaged file; a live source changed
since the snapshot is reported as changed, not as a mismatch; and the compliance report's
rotation and drill controls go from FAIL to PASS after ``key rotate`` and a drill."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import CLI, keyark_binary
from tests.e2e.daemon_cli import Daemon, wait_for

from keyark.state.runs import RunStore

#: Files of the job's tree besides the daemon helper's two (so a 30% sample is a share).
EXTRA_FILES = 8


@pytest.fixture
def setup(cli: CLI, tmp_path: Path) -> Daemon:
    """Repository ``main`` with job ``web`` backed up once (a tree of ten files)."""
    cli.run("init", check=True)
    setup = Daemon(cli, tmp_path)
    for index in range(EXTRA_FILES):
        (setup.source / f"file{index}.bin").write_bytes(os.urandom(2000 + index))
    setup.write_config({"web": {}})
    setup.run("run", "web", check=True)
    return setup


def _drill(setup: Daemon, *args: str) -> tuple[int, dict[str, Any], str]:
    shown = setup.run("drill", "web", "--json", *args)
    document: dict[str, Any] = json.loads(shown.stdout) if shown.stdout.strip() else {}
    return shown.returncode, document, shown.stderr


def _drills(state: Path) -> list[Any]:
    return [run for run in RunStore(state).runs() if run.kind == "drill"]


def test_full_and_sample_drills_pass_and_reach_history_monitor_metrics(setup: Daemon) -> None:
    scratch = setup.root / "scratch"
    code, full, stderr = _drill(setup, "--full", "--target", str(scratch))
    assert code == 0, stderr
    total = EXTRA_FILES + 2
    assert full["ok"] and full["sample"] == "full" and full["subject"] == "drill:web"
    assert full["files_total"] == full["files_restored"] == full["files_verified"] == total
    assert full["live"]["compared"] == full["live"]["matched"] == total
    assert full["duration_seconds"] > 0
    assert list(scratch.iterdir()) == [], "the scratch directory is removed"

    code, sample, stderr = _drill(setup, "--sample", "30%")
    assert code == 0, stderr
    assert sample["files_sampled"] == math.ceil(total * 0.3) == sample["files_verified"]
    assert sample["sample"] == "30%"

    drills = _drills(setup.state)
    assert [(d.job, d.status) for d in drills] == [("drill:web", "success")] * 2
    assert drills[0].snapshot_id == full["snapshot_id"]
    assert setup.history("drill:web")[-1]["kind"] == "drill"
    # a drill is not a run of the job: the job's own last run stays its backup
    assert [run["kind"] for run in setup.history("web")] == ["backup"]

    metrics = setup.run("metrics", check=True).stdout
    assert 'keyark_drill_last_success_timestamp_seconds{job="web"}' in metrics
    assert 'keyark_drill_duration_seconds{job="web"}' in metrics

    checked = json.loads(setup.run("monitor", "check", "--json").stdout)
    results = checked["results"] if isinstance(checked, dict) else checked
    drill = [r for r in results if r["check"] == "drill"]
    assert [(r["subject"], r["level"]) for r in drill] == [("web", "ok")], drill


def test_a_flipped_byte_in_a_pack_fails_the_drill_naming_the_file(setup: Daemon) -> None:
    victim = setup.source / "big.bin"
    victim.write_bytes(os.urandom(400_000))
    setup.run("run", "web", check=True)
    code, document, stderr = _drill(setup)
    assert code == 0 and document["ok"], stderr  # control: the same drill passes undamaged

    packs = sorted((setup.cli.repo / "data").glob("*/*"), key=lambda p: p.stat().st_size)
    damaged = packs[-1]  # the largest pack holds the big file's data
    damaged.chmod(0o600)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))

    code, document, stderr = _drill(setup, "--full")
    assert code == 1, stderr
    assert not document["ok"] and str(victim) in document["failed"]
    error_lines = [line for line in stderr.splitlines() if '"message_type": "error"' in line]
    assert len(error_lines) == 1 and str(victim) in error_lines[0]
    plain = setup.run("drill", "web")
    assert plain.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert last.startswith("keyark: drill of snapshot") and str(victim) in last
    assert [d.status for d in _drills(setup.state)][-2:] == ["failed", "failed"]
    assert str(victim) in (_drills(setup.state)[-1].error or "")


def test_a_live_file_changed_since_the_snapshot_is_not_a_mismatch(setup: Daemon) -> None:
    changed = setup.source / "file0.bin"
    with changed.open("ab") as handle:
        handle.write(b"a line written after the backup\n")
    (setup.source / "file1.bin").unlink()
    code, document, stderr = _drill(setup)
    assert code == 0, stderr
    live = document["live"]
    assert document["ok"] and live["differed"] == 0
    assert live["changed"] == 1 and live["changed_paths"] == [str(changed)]
    assert live["skipped"] == 1  # the deleted one
    assert live["compared"] == live["matched"] == EXTRA_FILES + 2 - 2
    plain = setup.run("drill", "web")
    assert f"changed since the snapshot (not compared): {changed}" in plain.stdout


def test_compliance_rotation_and_drill_controls_fail_fresh_then_pass(
    cli: CLI, tmp_path: Path
) -> None:
    """Issue 15 §4: a fresh repository FAILs pci-3.7.4 and gdpr-32-1-d; after a key
    rotation and a drill both PASS."""
    cli.run("init", check=True)
    source = tmp_path / "src"
    source.mkdir()
    (source / "server.key").write_bytes(os.urandom(1500))
    cli.run("backup", str(source), check=True)

    def statuses() -> dict[str, str]:
        shown = cli.run("compliance", "report", "--json")
        document = json.loads(shown.stdout)
        return {control["id"]: control["status"] for control in document["controls"]}

    fresh = statuses()
    assert fresh["pci-3.7.4"] == "FAIL" and fresh["gdpr-32-1-d"] == "FAIL", fresh
    cli.run("key", "rotate", check=True)
    drilled = cli.run("drill", "--json")
    assert drilled.returncode == 0, drilled.stderr
    after = statuses()
    assert after["pci-3.7.4"] == "PASS" and after["gdpr-32-1-d"] == "PASS", after
    assert after["gdpr-32-1-c"] == "PASS"


def test_a_drill_is_in_the_audit_log(setup: Daemon) -> None:
    code, _document, stderr = _drill(setup)
    assert code == 0, stderr
    records = json.loads(setup.cli.run("audit", "log", "--json", check=True).stdout)
    assert [r["result"] for r in records if r["operation"] == "drill"] == ["success"]


def test_an_interrupted_drill_removes_its_scratch_directory(setup: Daemon) -> None:
    """SIGINT once the scratch directory exists (reads throttled so the restore is still
    going): exit 130, the scratch directory is gone, the history row says failed."""
    (setup.source / "large.bin").write_bytes(os.urandom(3_000_000))
    setup.run("run", "web", check=True)
    target = setup.root / "scratch"
    target.mkdir()
    # the repository of --repo (the fixture's), so that the download limit applies
    args = ["drill", "latest", "--target", str(target), "--limit-download", "200"]
    process = subprocess.Popen(
        [keyark_binary(), *args],
        env=setup.cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(target.iterdir()) or process.poll() is not None, 60, "the scratch")
        assert process.poll() is None, "the drill ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _out, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert list(target.iterdir()) == [], "the interrupted drill removed its scratch directory"
    last = _drills(Path(setup.cli.env["KEYARK_STATE_DIR"]))[-1]
    assert last.status == "failed" and last.error_code == "cancelled", last


def test_a_job_drill_counts_for_the_compliance_report_of_its_config(setup: Daemon) -> None:
    code, _document, stderr = _drill(setup)
    assert code == 0, stderr
    shown = setup.cli.run("compliance", "report", "--json", "--config", str(setup.config))
    statuses = {c["id"]: c["status"] for c in json.loads(shown.stdout)["controls"]}
    assert statuses["gdpr-32-1-d"] == "PASS", statuses
