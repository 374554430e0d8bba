"""The job pipeline through ``ops.run``: hooks, command sources, partial runs, timeouts.

Real parts only: local repositories, ``/bin/sh`` hooks and commands, the SQLite run
history. Each safety claim has a control that shows the test can fail.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest
from tests.integration.jobs_helpers import check_ok, make_config, run_task, snapshot_ids, steps

from keyark import ops
from keyark.cancel import CancelToken
from keyark.context import OperationContext
from keyark.errors import UsageError


@pytest.fixture
def source(tmp_path: Path) -> Path:
    tree = tmp_path / "src"
    (tree / "tls").mkdir(parents=True)
    (tree / "tls" / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n")
    return tree


def _job(source: Path, **fields: object) -> dict[str, object]:
    return {"repository": "main", "sources": [str(source)], **fields}


def _hooks_logging(log: Path) -> dict[str, list[str]]:
    line = f'echo "$0 $KEYARK_JOB $KEYARK_STATUS $KEYARK_SNAPSHOT_ID" >> {log}'
    return {name: [line.replace("$0", name)] for name in ("before", "after", "on_error", "finally")}


def test_a_job_runs_its_steps_in_order_and_hooks_see_the_run(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "hooks.log"
    env_dump = tmp_path / "env.txt"
    hooks = _hooks_logging(log)
    hooks["before"] = [*hooks["before"], f"env > {env_dump}"]
    monkeypatch.setenv("KEYARK_PASSWORD", "sekrit-passphrase-123")
    monkeypatch.setenv("PLAIN_MARKER", "visible-marker")
    config = make_config(tmp_path, {"tls": _job(source, hooks=hooks, verify="full")})

    result = run_task(tmp_path, config, "tls")

    record = result.record
    assert record.status == "success", record.error
    assert result.exit_code == 0
    assert [s.name for s in record.steps] == [
        "before hooks",
        "backup",
        "verify",
        "after hooks",
        "finally hooks",
    ]
    snapshot = record.snapshot_id
    assert snapshot and snapshot_ids(tmp_path) == [snapshot]
    assert log.read_text().splitlines() == [
        "before tls running ",
        f"after tls success {snapshot}",
        f"finally tls success {snapshot}",
    ]
    environment = env_dump.read_text()
    assert "visible-marker" in environment  # control: the hook has our environment
    assert "sekrit-passphrase-123" not in environment and "KEYARK_PASSWORD=" not in environment
    stored = ops.state_store(config).runs("tls")
    assert [(r.status, r.trigger, r.snapshot_id) for r in stored] == [
        ("success", "manual", snapshot)
    ]
    assert [s.name for s in stored[0].steps] == [s.name for s in record.steps]
    assert stored[0].pid == os.getpid() and stored[0].duration is not None


def test_a_failing_before_hook_skips_the_backup_and_fails_the_run(
    tmp_path: Path, source: Path
) -> None:
    log = tmp_path / "hooks.log"
    hooks = _hooks_logging(log)
    hooks["before"] = ["echo not ready >&2; exit 7"]
    config = make_config(tmp_path, {"tls": _job(source, hooks=hooks)})

    result = run_task(tmp_path, config, "tls")

    assert result.record.status == "failed" and result.exit_code == 1
    assert result.record.error_code == "hook"
    assert "exited with status 7" in (result.record.error or "")
    assert "not ready" in (result.record.error or "")
    assert steps(result)["backup"] == "skipped"
    assert snapshot_ids(tmp_path) == []
    assert log.read_text().splitlines() == ["on_error tls failed ", "finally tls failed "]


def test_a_hook_over_its_timeout_is_killed_with_what_it_started(
    tmp_path: Path, source: Path
) -> None:
    child = tmp_path / "child.pid"
    hook = f"sleep 60 & echo $! > {child}; wait"
    config = make_config(tmp_path, {"tls": _job(source, hooks={"before": [hook], "timeout": "1s"})})
    clock = time.monotonic()

    result = run_task(tmp_path, config, "tls")

    assert time.monotonic() - clock < 20
    assert result.record.status == "failed" and result.record.error_code == "hook"
    assert "1s limit" in (result.record.error or "")
    pid = int(child.read_text())
    assert _gone(pid), "the hook's background child outlived the hook's timeout"
    assert snapshot_ids(tmp_path) == []


def _gone(pid: int, wait: float = 5.0) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_command_outputs_are_files_of_the_same_snapshot(tmp_path: Path, source: Path) -> None:
    commands = [
        {"path": "vault/raft.snap", "run": "printf 'raft-state'"},
        {"path": "db.sql", "run": "echo 'select 1;'"},
    ]
    config = make_config(tmp_path, {"tls": _job(source, commands=commands, verify="full")})

    result = run_task(tmp_path, config, "tls")

    assert result.record.status == "success", result.record.error
    ctx = OperationContext(config=config.repository("main"), cache_dir=tmp_path / "cache")
    listing = ops.ls(ctx, ops.LsOptions(snapshot=result.record.snapshot_id or ""))
    paths = {entry.path for entry in listing.entries}
    assert {"/vault/raft.snap", "/db.sql", f"{source}/tls/server.key"} <= paths
    buffer = io.BytesIO()
    ops.dump(ctx, ops.DumpOptions(snapshot="latest", path="/vault/raft.snap", output=buffer))
    assert buffer.getvalue() == b"raft-state"
    check_ok(tmp_path)


@pytest.mark.parametrize(
    ("command", "timeout", "why"),
    [
        ("echo half-written; exit 3", None, "exited with status 3"),
        ("echo half-written; sleep 60", "1s", "1s limit"),
    ],
)
def test_a_failing_command_source_fails_the_run_and_keeps_no_snapshot(
    tmp_path: Path, source: Path, command: str, timeout: str | None, why: str
) -> None:
    log = tmp_path / "hooks.log"
    spec: dict[str, object] = {"path": "dump.sql", "run": command}
    if timeout:
        spec["timeout"] = timeout
    good = {"path": "ok.txt", "run": "echo fine"}
    config = make_config(
        tmp_path,
        {
            "bad": _job(source, commands=[good, spec], hooks=_hooks_logging(log)),
            "good": _job(source, commands=[good]),
        },
    )
    clock = time.monotonic()

    result = run_task(tmp_path, config, "bad")

    assert time.monotonic() - clock < 20
    assert result.record.status == "failed" and result.exit_code == 1
    assert result.record.error_code == "source"
    assert why in (result.record.error or "")
    assert result.record.snapshot_id is None and snapshot_ids(tmp_path) == []
    assert log.read_text().splitlines()[-2:] == ["on_error bad failed ", "finally bad failed "]
    # Control: the same repository and source with a command that works makes a snapshot.
    assert run_task(tmp_path, config, "good").record.status == "success"
    assert len(snapshot_ids(tmp_path)) == 1
    check_ok(tmp_path)


def test_unreadable_sources_make_a_partial_run(tmp_path: Path, source: Path) -> None:
    log = tmp_path / "hooks.log"
    if os.geteuid() == 0:  # root reads every file: a source that is gone is unreadable too
        unreadable = str(tmp_path / "vanished")
    else:
        locked = source / "tls" / "locked.key"
        locked.write_text("secret")
        locked.chmod(0)
        unreadable = str(locked)
    job = _job(source, hooks=_hooks_logging(log))
    job["sources"] = [str(source), unreadable]
    config = make_config(tmp_path, {"tls": job, "whole": _job(source)})

    result = run_task(tmp_path, config, "tls")

    assert result.record.status == "partial" and result.exit_code == 3
    assert steps(result)["backup"] == "partial"
    assert result.record.snapshot_id and snapshot_ids(tmp_path) == [result.record.snapshot_id]
    assert log.read_text().splitlines()[1].startswith("after tls partial ")
    assert ops.state_store(config).last("tls").status == "partial"  # type: ignore[union-attr]
    # Control: every source readable is a success.
    assert run_task(tmp_path, config, "whole").exit_code == 0


def test_the_job_timeout_cancels_the_run_and_leaves_the_repository_consistent(
    tmp_path: Path, source: Path
) -> None:
    log = tmp_path / "hooks.log"
    slow = {"path": "slow.bin", "run": "head -c 100000 /dev/urandom; sleep 60"}
    job = _job(source, commands=[slow], timeout="1s", hooks=_hooks_logging(log))
    config = make_config(tmp_path, {"tls": job})
    clock = time.monotonic()

    result = run_task(tmp_path, config, "tls")

    assert time.monotonic() - clock < 20
    assert result.record.status == "failed" and result.record.error_code == "timeout"
    assert snapshot_ids(tmp_path) == []
    assert log.read_text().splitlines()[-2:] == ["on_error tls failed ", "finally tls failed "]
    check_ok(tmp_path)
    stored = ops.state_store(config).last("tls")
    assert stored is not None and stored.error_code == "timeout" and stored.finished is not None


def test_a_cancel_of_the_callers_token_ends_the_run_as_cancelled(
    tmp_path: Path, source: Path
) -> None:
    marker = tmp_path / "command-started"
    slow = {"path": "slow.bin", "run": f"touch {marker}; sleep 60"}
    config = make_config(tmp_path, {"tls": _job(source, commands=[slow])})
    token = CancelToken()

    def cancel_when_started() -> None:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        token.cancel("cancelled")

    watcher = threading.Thread(target=cancel_when_started)
    watcher.start()
    ctx = OperationContext(cache_dir=tmp_path / "cache", cancel=token)
    result = run_task(tmp_path, config, "tls", ctx)
    watcher.join()

    assert marker.exists()
    assert result.record.status == "failed" and result.record.error_code == "cancelled"
    assert snapshot_ids(tmp_path) == []
    check_ok(tmp_path)


def test_a_dry_run_changes_and_records_nothing(tmp_path: Path, source: Path) -> None:
    log = tmp_path / "hooks.log"
    commands = [{"path": "x", "run": f"touch {tmp_path / 'ran'}"}]
    job = _job(
        source,
        commands=commands,
        hooks=_hooks_logging(log),
        retention={"keep_last": 1},
        verify="subset 5%",
    )
    config = make_config(tmp_path, {"tls": job})

    result = run_task(tmp_path, config, "tls", dry_run=True)

    assert result.exit_code == 0 and result.dry_run
    assert {s.status for s in result.record.steps} == {"dry-run"}
    assert {"backup", "verify", "forget"} <= set(steps(result))
    assert not log.exists() and not (tmp_path / "ran").exists()
    assert snapshot_ids(tmp_path) == []
    assert ops.state_store(config).runs() == []


def test_an_unknown_task_is_a_usage_error(tmp_path: Path, source: Path) -> None:
    config = make_config(tmp_path, {"tls": _job(source)})
    with pytest.raises(UsageError, match="no job named 'nope'"):
        run_task(tmp_path, config, "nope")
    with pytest.raises(UsageError, match="no maintenance check task"):
        run_task(tmp_path, config, "maintenance.check")
