"""SFTP specifics: host key checking, authentication, temp names, permissions."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from keyark.backends.base import Backend
from keyark.backends.registry import BackendOptions, open_backend
from keyark.errors import (
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
    UsageError,
)

from .servers import SSHInfo, free_port


def _open(ssh: SSHInfo, directory: str, **settings: str) -> Backend:
    url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/{directory}"
    options = {"sftp_identity": str(ssh.identity), "sftp_known_hosts": str(ssh.known_hosts)}
    return open_backend(url, BackendOptions({**options, **settings}))


def test_known_host_key_accepted(sshd_server: SSHInfo) -> None:
    backend = _open(sshd_server, "ok")
    try:
        with pytest.raises(NotFoundError):
            backend.stat("config")
    finally:
        backend.close()


def test_unknown_host_key_refused(sshd_server: SSHInfo, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port + 1} {sshd_server.host_public_key}\n")
    backend = _open(sshd_server, "unknown", sftp_known_hosts=str(known_hosts))
    with pytest.raises(PermanentBackendError, match="unknown") as caught:
        backend.put("config", b"x")
    assert str(known_hosts) in str(caught.value)
    assert not (sshd_server.root / "unknown").exists(), "wrote to an unverified host"


def test_changed_host_key_refused(sshd_server: SSHInfo, tmp_path: Path) -> None:
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    algorithm, key = (tmp_path / "other_host_key.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} {algorithm} {key}\n")
    backend = _open(sshd_server, "changed", sftp_known_hosts=str(known_hosts))
    with pytest.raises(PermanentBackendError, match="does not match"):
        backend.put("config", b"x")
    assert not (sshd_server.root / "changed").exists(), "wrote to a host with a changed key"


def test_missing_known_hosts_file_refused(sshd_server: SSHInfo, tmp_path: Path) -> None:
    backend = _open(sshd_server, "nokh", sftp_known_hosts=str(tmp_path / "absent"))
    with pytest.raises(PermanentBackendError, match="known_hosts file"):
        backend.stat("config")


def test_wrong_identity_is_permanent(sshd_server: SSHInfo, tmp_path: Path) -> None:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    backend = _open(sshd_server, "auth", sftp_identity=str(key))
    with pytest.raises(PermanentBackendError, match="authentication failed") as caught:
        backend.stat("config")
    assert "PRIVATE KEY" not in str(caught.value)


def test_missing_identity_file(sshd_server: SSHInfo, tmp_path: Path) -> None:
    backend = _open(sshd_server, "noid", sftp_identity=str(tmp_path / "absent"))
    with pytest.raises(PermanentBackendError, match="identity file"):
        backend.stat("config")


def test_connection_refused_is_transient(sshd_server: SSHInfo) -> None:
    url = f"sftp://{sshd_server.user}@127.0.0.1:{free_port()}/srv/x"
    backend = open_backend(url, BackendOptions({"sftp_known_hosts": str(sshd_server.known_hosts)}))
    with pytest.raises(TransientBackendError, match="cannot connect"):
        backend.stat("config")


def test_password_in_url_refused() -> None:
    with pytest.raises(UsageError) as caught:
        open_backend("sftp://user:hunter2@127.0.0.1/srv/x")
    assert "hunter2" not in str(caught.value)


def test_temp_names_never_listed_and_files_private(sshd_server: SSHInfo) -> None:
    backend = _open(sshd_server, "private/deep/repo")
    try:
        backend.put("data/ab/abcd", b"pack")
        directory = sshd_server.root / "private" / "deep" / "repo" / "data" / "ab"
        (directory / ".tmp-0123456789abcdef").write_bytes(b"half-written")
        assert [info.name for info in backend.list("data/")] == ["data/ab/abcd"]
        assert stat.S_IMODE((directory / "abcd").stat().st_mode) == 0o600
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert sorted(p.name for p in directory.iterdir()) == [".tmp-0123456789abcdef", "abcd"]
    finally:
        backend.close()


def test_location_has_no_secrets(sshd_server: SSHInfo) -> None:
    backend = _open(sshd_server, "loc")
    assert backend.location() == (
        f"sftp://{sshd_server.user}@127.0.0.1:{sshd_server.port}{sshd_server.root}/loc"
    )
