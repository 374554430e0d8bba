"""The installed ``keyark`` command, end to end, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD, keyark_binary, make_tree, tree_state
from tests.json_lines import last_json


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keyark: "), result.stderr
    assert PASSWORD not in result.stderr


def test_full_workflow(cli: CLI, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    cli.run("init", check=True)
    first = last_json(cli.run("backup", str(source), "--tag", "t1", "--json", check=True).stdout)
    assert first["files_new"] == 6 and first["message_type"] == "summary"
    second = last_json(cli.run("--json", "backup", str(source), check=True).stdout)
    assert (
        second["files_unchanged"] == 6 and second["data_blobs"] == 0 and second["bytes_read"] == 0
    )
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert [s["id"] for s in snaps] == [first["snapshot_id"], second["snapshot_id"]]
    assert json.loads(cli.run("snapshots", "--tag", "t1", "--json").stdout)[0]["tags"] == ["t1"]
    plain = cli.run("snapshots", check=True).stdout
    assert first["snapshot_id"][:8] in plain and "\x1b[" not in plain  # nothing decorative
    listing = [json.loads(line) for line in cli.run("ls", "latest", "--json").stdout.splitlines()]
    assert listing[0]["struct_type"] == "snapshot"  # restic's lines: snapshot, then nodes
    assert any(e["path"].endswith("tls/server.key") for e in listing[1:])
    assert "server.key" in cli.run("ls", first["snapshot_id"][:8], "--long", check=True).stdout
    key_path = str(source / "tls" / "server.key")
    dumped = cli.run("dump", "latest", key_path, check=True).stdout
    assert dumped == (source / "tls" / "server.key").read_text()
    (source / "new.pem").write_text("new")
    cli.run("backup", str(source), check=True)
    diff = json.loads(cli.run("diff", first["snapshot_id"], "latest", "--json", check=True).stdout)
    assert {"modifier": "+", "path": str(source / "new.pem")} in diff["changes"]
    found = json.loads(cli.run("find", "*.pem", "--json", check=True).stdout)
    assert len(found) == 1 and found[0]["hits"] == 1
    assert found[0]["matches"][0]["path"].endswith("new.pem")
    stats = json.loads(cli.run("stats", "--json", check=True).stdout)
    assert stats["snapshots"] == 3 and stats["dedup_ratio"] > 2
    checked = json.loads(cli.run("check", "--read-data", "--json", check=True).stdout)
    assert checked["ok"] and checked["packs_read"] >= 1
    assert cli.run("check", "--read-data-subset", "1/2", check=True).returncode == 0
    assert cli.run("check", "--read-data-subset", "50%", check=True).returncode == 0
    target = tmp_path / "out"
    restored = last_json(
        cli.run(
            "restore", "latest", "--target", str(target), "--verify", "--json", check=True
        ).stdout
    )
    assert restored["files_verified"] == 7
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
    cat = json.loads(
        cli.run("debug", "cat", "snapshot", first["snapshot_id"][:10], check=True).stdout
    )
    assert cat["id"] == first["snapshot_id"]
    config = json.loads(cli.run("debug", "cat", "config", check=True).stdout)
    assert config["version"] == 2 and "sealed" not in config
    rebuilt = cli.run("catalog", "rebuild", "--json", check=True)
    assert json.loads(rebuilt.stdout)["snapshots"] == 3


def test_global_options_anywhere_and_password_sources(cli: CLI, tmp_path: Path) -> None:
    env = {"KEYARK_PASSWORD": ""}
    del cli.env["KEYARK_PASSWORD"]
    pw_file = tmp_path / "pw"
    pw_file.write_text(PASSWORD + "\n")
    cli.run("--password-file", str(pw_file), "init", check=True)
    assert cli.run("snapshots", "--password-file", str(pw_file), check=True).returncode == 0
    cmd = f"cat {pw_file}"
    assert cli.run("snapshots", "--password-command", cmd, check=True).returncode == 0
    assert cli.run("snapshots", env={"KEYARK_PASSWORD_FILE": str(pw_file)}, check=True)
    assert_one_line_error(cli.run("snapshots", env=env), 12)
    no_source = cli.run("snapshots")
    assert_one_line_error(no_source, 1)
    assert "KEYARK_PASSWORD" in no_source.stderr


def test_exit_codes(cli: CLI, tmp_path: Path) -> None:
    assert_one_line_error(cli.run("snapshots"), 10)
    cli.run("init", check=True)
    before = sorted(p.name for p in cli.repo.rglob("*"))
    assert_one_line_error(cli.run("init"), 1)
    assert sorted(p.name for p in cli.repo.rglob("*")) == before
    assert_one_line_error(cli.run("snapshots", env={"KEYARK_PASSWORD": "wrong"}), 12)
    assert_one_line_error(cli.run("backup", str(tmp_path / "does-not-exist")), 1)
    assert_one_line_error(cli.run("restore", "deadbeef", "--target", str(tmp_path / "o")), 1)
    assert_one_line_error(cli.run("backup", str(tmp_path), "--compression", "zip"), 1)
    assert cli.run("--debug", "snapshots", env={"KEYARK_PASSWORD": "wrong"}).returncode == 12
    bad_cmd = cli.run("frobnicate")
    assert bad_cmd.returncode == 1 and "Traceback" not in bad_cmd.stderr


def test_key_passwd(cli: CLI) -> None:
    cli.run("init", check=True)
    cli.run("key", "passwd", env={"KEYARK_NEW_PASSWORD": "new secret"}, check=True)
    assert_one_line_error(cli.run("snapshots"), 12)
    assert cli.run("snapshots", env={"KEYARK_PASSWORD": "new secret"}, check=True)
    keys = json.loads(
        cli.run("key", "list", "--json", env={"KEYARK_PASSWORD": "new secret"}).stdout
    )
    assert len(keys) == 1 and keys[0]["current"]


def _as_nobody(args: list[str]) -> list[str]:
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args]


def test_unreadable_source_file_exit_3(cli: CLI) -> None:
    base = Path(tempfile.mkdtemp(prefix="keyark-e2e-"))
    try:
        os.chmod(base, 0o755)
        source = make_tree(base / "src")
        secret = source / "tls" / "server.key"
        os.chmod(secret, 0o000)
        env = dict(cli.env, KEYARK_REPOSITORY=str(base / "repo"), KEYARK_CACHE_DIR=str(base / "c"))
        if os.geteuid() == 0:  # root reads everything: run the backup as nobody
            if shutil.which("setpriv") is None:
                pytest.skip("setpriv is needed to drop root privileges")
            for path in [base, *base.rglob("*")]:
                if path != secret:
                    os.lchown(path, 65534, 65534)
            wrap = _as_nobody
        else:

            def wrap(args: list[str]) -> list[str]:
                return args

        def run(*a: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                wrap([keyark_binary(), *a]),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )

        assert run("init").returncode == 0
        result = run("backup", str(source), "--json")
        assert result.returncode == 3, result.stderr
        assert "server.key" in result.stderr and "Traceback" not in result.stderr
        summary = last_json(result.stdout)
        assert summary["snapshot_id"] and summary["files_new"] == 5
        assert run("check", "--read-data").returncode == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_kill_9_backup_then_resume(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(48):
        (source / f"blob{i:02}.bin").write_bytes(os.urandom(1024 * 1024 + i))
    cli.run("init", "--pack-size", "1", check=True)
    process = subprocess.Popen(
        [keyark_binary(), "backup", str(source)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        index_dir = cli.repo / "index"
        if index_dir.exists() and [p for p in index_dir.iterdir() if not p.name.startswith(".")]:
            break  # a complete index file exists: some packs are durable and indexed
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (
        not list((cli.repo / "snapshots").glob("*")) if (cli.repo / "snapshots").exists() else True
    )
    checked = cli.run("check", "--read-data", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    resumed = last_json(cli.run("backup", str(source), "--json", check=True).stdout)
    total = sum(p.stat().st_size for p in source.iterdir())
    assert resumed["bytes_added"] < total  # what the killed run uploaded was reused
    cli.run("check", "--read-data", check=True)
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), "--verify", check=True)
    assert tree_state(target / source.relative_to("/")) == tree_state(source)


def test_damaged_pack_cli_reports(cli: CLI, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    packs = sorted(
        (cli.repo / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0
    )
    biggest = packs[-1]
    header = json.loads(cli.run("debug", "cat", "pack", biggest.name, check=True).stdout)
    largest = max(header["blobs"], key=lambda b: b["raw_length"])  # a chunk of big.bin
    data = bytearray(biggest.read_bytes())
    data[largest["offset"] + 100] ^= 1
    biggest.write_bytes(bytes(data))
    result = cli.run("check", "--read-data")
    assert result.returncode == 1 and biggest.name[:16] in result.stdout
    assert "affects snapshots" in result.stdout and "big.bin" in result.stdout
    restored = cli.run("restore", "latest", "--target", str(tmp_path / "out"))
    assert restored.returncode == 1 and "big.bin" in restored.stderr
    assert (tmp_path / "out" / source.relative_to("/") / "tls" / "server.key").exists()
