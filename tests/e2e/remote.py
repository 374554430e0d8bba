"""Repositories on the real test servers, driven through the installed ``keyark``.

A :class:`Remote` is one fresh repository location on one server (a new bucket,
container or directory), with the environment and global flags the command needs
to reach it. Secrets (the FTP password, cloud keys) travel in the environment only.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.conformance.servers import FTPInfo, SSHInfo, unique
from tests.conftest import PASSWORD, keyark_binary

#: The remote kinds with an end-to-end test (``local`` is covered everywhere else).
REMOTE_KINDS = ["sftp", "s3", "azure", "gcs", "ftp", "ftps"]


@dataclass
class Remote:
    """One repository location and how to reach it."""

    kind: str
    url: str
    env: dict[str, str]
    flags: list[str] = field(default_factory=list)

    def run(
        self,
        *args: str,
        check: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``keyark ARGS`` against this repository (global flags after the verb)."""
        result = subprocess.run(
            [keyark_binary(), *args, *self.flags],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"keyark {' '.join(args)} on {self.kind} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        """Run with ``--json`` and parse the last line of output."""
        output = self.run(*args, "--json", check=True).stdout.strip().splitlines()
        return json.loads(output[-1])


def base_env(cache: Path) -> dict[str, str]:
    """This process's environment (with the session's emulator settings), no KEYARK_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    env.update(
        KEYARK_PASSWORD=PASSWORD,
        KEYARK_CACHE_DIR=str(cache),
        KEYARK_STATE_DIR=str(cache.with_name(f"{cache.name}-state")),
    )
    return env


def make_remote(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    """A fresh, empty repository location of ``kind`` on its session server."""
    env = base_env(tmp_path / f"cache-{unique(kind)}")
    flags: list[str] = []
    if kind == "local":
        url = str(tmp_path / unique(kind))
    elif kind == "sftp":
        ssh: SSHInfo = request.getfixturevalue("sshd_server")
        url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/{unique(kind)}"
        flags = ["--sftp-known-hosts", str(ssh.known_hosts), "--sftp-identity", str(ssh.identity)]
    elif kind == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        url = f"s3://{unique(kind)}/repo"
        flags = ["--s3-endpoint", endpoint]
    elif kind == "azure":
        request.getfixturevalue("azurite_connection_string")
        url = f"azure://{unique(kind)}/repo"
    elif kind == "gcs":
        request.getfixturevalue("gcs_endpoint")
        url = f"gs://{unique(kind)}/repo"
    elif kind in ("ftp", "ftps"):
        ftp: FTPInfo = request.getfixturevalue(f"{kind}_server")
        url = f"{kind}://{ftp.user}@127.0.0.1:{ftp.port}/{unique(kind)}/repo"
        env["KEYARK_FTP_PASSWORD"] = ftp.password
        if ftp.ca_file is not None:
            flags = ["--ftp-ca-file", str(ftp.ca_file)]
    else:
        raise ValueError(kind)
    # Re-read after the fixtures ran: they add emulator variables to os.environ.
    env = {**base_env(Path(env["KEYARK_CACHE_DIR"])), **env}
    env["KEYARK_REPOSITORY"] = url
    return Remote(kind, url, env, flags)
