"""Servers that die or fill up under a running ``keyark backup`` (installed command)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conformance.servers import Server, SSHInfo, start_sshd
from tests.conftest import keyark_binary, make_tree, mounted_tmpfs, tree_state
from tests.e2e.remote import Remote, base_env, make_remote
from tests.e2e.test_backends import assert_one_line_error

MIB = 1024 * 1024


def sftp_remote(ssh: SSHInfo, path: Path, cache: Path) -> Remote:
    url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{path}"
    env = {**base_env(cache), "KEYARK_REPOSITORY": url}
    flags = ["--sftp-known-hosts", str(ssh.known_hosts), "--sftp-identity", str(ssh.identity)]
    return Remote("sftp", url, env, flags)


def packs(directory: Path) -> int:
    return sum(1 for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))


def test_sftp_server_killed_mid_backup_then_next_run_succeeds(tmp_path: Path) -> None:
    work = tmp_path / "sshd"
    work.mkdir()
    server, ssh = start_sshd(work)
    servers: list[Server] = [server]
    try:
        remote = sftp_remote(ssh, ssh.root / "repo", tmp_path / "cache")
        source = make_tree(tmp_path / "src")
        remote.run("init", "--pack-size", "1", check=True)
        remote.run("backup", str(source), check=True)
        data = ssh.root / "repo" / "data"
        before = packs(data)
        for number in range(12):
            (source / f"big{number}.bin").write_bytes(os.urandom(MIB))
        running = subprocess.Popen(
            [keyark_binary(), "backup", str(source), "--limit-upload", "1024", *remote.flags],
            env=remote.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while packs(data) < before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.poll() is None, "the backup finished before the server could be killed"
        server.kill_all()  # sshd and every session: connections drop mid-transfer
        _, stderr = running.communicate(timeout=180)
        assert running.returncode == 1, stderr
        assert "Traceback" not in stderr
        lines = stderr.strip().splitlines()
        assert lines[-1].startswith(f"keyark: sftp backend {remote.url}: "), stderr
        assert "gave up after 6 attempts" in lines[-1]
        # Retries, and that the failed backup's audit record waits for the next write.
        audit_waits = "warning: the repository copy of the audit log was not written"
        assert all(
            line.startswith(("WARNING keyark.backend: ", audit_waits)) for line in lines[:-1]
        ), stderr

        servers.append(start_sshd(work, port=ssh.port)[0])  # same port, same files
        remote.run("backup", str(source), check=True)
        assert len(remote.json("snapshots")) == 2
        assert remote.json("check", "--read-data")["ok"]
        target = tmp_path / "out"
        remote.run("restore", "latest", "--target", str(target), "--verify", check=True)
        assert tree_state(target / source.relative_to("/")) == tree_state(source)
    finally:
        for each in servers:
            each.stop()


@pytest.fixture
def small_disk(sshd_server: SSHInfo) -> Iterator[Path]:
    """A 3 MiB tmpfs inside the SFTP server's tree."""
    with mounted_tmpfs(sshd_server.root / f"disk-{os.getpid()}-{time.monotonic_ns()}") as path:
        yield path


def test_sftp_disk_full_is_one_line_and_repository_stays_consistent(
    sshd_server: SSHInfo, small_disk: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    template = make_remote("sftp", request, tmp_path)
    remote = sftp_remote(sshd_server, small_disk / "repo", tmp_path / "cache")
    assert remote.flags == template.flags
    source = tmp_path / "src"
    source.mkdir()
    (source / "small.key").write_text("key material")
    remote.run("init", "--pack-size", "1", check=True)
    remote.run("backup", str(source), check=True)
    for number in range(6):
        (source / f"big{number}.bin").write_bytes(os.urandom(MIB))
    line = assert_one_line_error(remote.run("backup", str(source)), 1)
    assert line.startswith(f"keyark: sftp backend {remote.url}: server failure on ")
    assert "disk full" in line
    assert not list((small_disk / "repo").rglob(".tmp-*"))  # no partial objects left
    assert remote.json("check", "--read-data")["ok"]
    assert len(remote.json("snapshots")) == 1
