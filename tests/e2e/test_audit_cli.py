"""``keyark audit`` end to end: the installed command, real processes, a real repository.

Concurrent writers (two machines' state directories, and two processes sharing one)
keep a log that verifies; ``audit.required`` refuses an operation when the local log
cannot be written (a read-only mount), with a writable directory as the positive
control.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import CLI, keyark_binary


@pytest.fixture
def audited_cli(cli: CLI, tmp_path: Path) -> CLI:
    """The ``cli`` fixture with its own state directory and an initialised repository."""
    cli.env["KEYARK_STATE_DIR"] = str(tmp_path / "state")
    cli.run("init", check=True)
    source = tmp_path / "src"
    source.mkdir()
    (source / "id_ed25519").write_text("a key, as far as this test knows\n")
    return cli


def _records(cli: CLI, *args: str) -> list[dict[str, object]]:
    result = cli.run("audit", "log", "--json", *args, check=True)
    records = json.loads(result.stdout)
    assert isinstance(records, list)
    return records


def test_log_verify_and_export(audited_cli: CLI, tmp_path: Path) -> None:
    cli = audited_cli
    cli.run("backup", str(tmp_path / "src"), check=True)
    wrong = cli.run("snapshots", env={"KEYARK_PASSWORD": "not the passphrase"})
    assert wrong.returncode == 12
    records = _records(cli)
    assert [r["operation"] for r in records] == ["init", "backup", "snapshots"]
    assert records[2]["error_code"] == "wrong_password"
    assert [r["operation"] for r in _records(cli, "--op", "backup")] == ["backup"]
    assert _records(cli, "--actor", "nobody-of-that-name") == []
    verified = cli.run("audit", "verify", check=True)
    assert "0 signed checkpoint" in verified.stdout or "signed checkpoint" in verified.stdout
    csv_text = cli.run("audit", "export", "--format", "csv", check=True).stdout
    header, *rows = csv_text.splitlines()
    assert header.startswith("time,writer,seq,operation")
    assert any(",backup,success," in row for row in rows)
    jsonl = cli.run("audit", "export", "--format", "jsonl", check=True).stdout
    assert all(json.loads(line)["mac"] for line in jsonl.splitlines())


def test_verify_fails_naming_the_first_bad_record(audited_cli: CLI, tmp_path: Path) -> None:
    cli = audited_cli
    cli.run("backup", str(tmp_path / "src"), check=True)
    assert cli.run("audit", "verify").returncode == 0  # positive control
    (log,) = (tmp_path / "state" / "audit").glob("*/*.jsonl")
    lines = log.read_text().splitlines()
    first = json.loads(lines[0])
    first["record"]["actor"]["user"] = "mallory"
    lines[0] = json.dumps(first)
    log.write_text("\n".join(lines) + "\n")
    result = cli.run("audit", "verify")
    assert result.returncode == 1
    writer = first["record"]["writer"]
    assert f"record {writer}/1: edited" in result.stdout
    assert f"failed verification at record {writer}/1" in result.stderr


def _spawn(cli: CLI, state: Path, source: Path, count: int) -> subprocess.Popen[str]:
    env = dict(cli.env, KEYARK_STATE_DIR=str(state))
    script = " && ".join([f'"{keyark_binary()}" backup "{source}" >/dev/null'] * count)
    return subprocess.Popen(["sh", "-c", script], env=env, text=True, stderr=subprocess.PIPE)


def test_concurrent_writers_keep_a_verifiable_log(audited_cli: CLI, tmp_path: Path) -> None:
    cli = audited_cli
    source = tmp_path / "src"
    machines = [tmp_path / "state", tmp_path / "other-machine", tmp_path / "state"]
    workers = [_spawn(cli, state, source, 3) for state in machines]
    for worker in workers:
        _out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    backups = [r for r in _records(cli) if r["operation"] == "backup"]
    assert len(backups) == 9
    assert len({r["writer"] for r in backups}) == 2  # one per state directory
    for state in (tmp_path / "state", tmp_path / "other-machine"):
        result = cli.run("audit", "verify", "--json", env={"KEYARK_STATE_DIR": str(state)})
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["ok"] is True


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody may write to: a read-only tmpfs as root, else mode 0500."""
    path = tmp_path / "readonly"
    path.mkdir()
    if os.geteuid() != 0:
        os.chmod(path, 0o500)
        yield path
        os.chmod(path, 0o700)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a read-only tmpfs in CI: {mounted.stderr.strip()}")
        pytest.skip("mounting a read-only tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_required_audit_refuses_when_the_log_cannot_be_written(
    audited_cli: CLI, tmp_path: Path, read_only_dir: Path
) -> None:
    cli = audited_cli
    config = tmp_path / "keyark.yaml"

    def required_in(directory: Path) -> dict[str, str]:
        config.write_text(f"version: 1\naudit:\n  required: true\n  local_dir: {directory}\n")
        return {"KEYARK_CONFIG": str(config)}

    writable = required_in(tmp_path / "audit-ok")
    cli.run("backup", str(tmp_path / "src"), env=writable, check=True)  # positive control
    assert list((tmp_path / "audit-ok").glob("*/*.jsonl"))
    refused = cli.run("backup", str(tmp_path / "src"), env=required_in(read_only_dir))
    assert refused.returncode == 1
    assert "backup was not run: the audit log is required" in refused.stderr
    listed = cli.run("snapshots", "--json", check=True)
    assert len(json.loads(listed.stdout)) == 1  # the refused backup made no snapshot
