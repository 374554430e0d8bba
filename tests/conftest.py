"""Shared fixtures: temporary repositories, the installed command, sample trees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyark import ops
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials
from keyark.events import Event, Events, OperationWarning
from keyark.repo.repository import Repository

#: The real storage servers (sshd, moto, Azurite, fake-gcs-server, FTP/FTPS), per session;
#: a real PostgreSQL (``postgres_server``, ``postgres_url``).
pytest_plugins = ["tests.conformance.fixtures", "tests.postgres_fixtures"]

PASSWORD = "correct horse battery staple"

#: New passphrase slots use OWASP's minimum Argon2id (19 MiB, t=2), not the calibrated
#: 64 MiB default, so the suite's many repositories stay fast (see keyark.crypto.kdf).
os.environ.setdefault("KEYARK_TEST_FAST_KDF", "1")
#: Run history, alerts and audit logs of the suite go to a scratch directory, never to
#: the machine's own (``/var/lib/keyark`` as root); tests that need their own set it.
os.environ.setdefault("KEYARK_STATE_DIR", tempfile.mkdtemp(prefix="keyark-test-state-"))


def keyark_binary() -> str:
    """The installed console script (next to this interpreter, else on PATH)."""
    candidate = Path(sys.executable).with_name("keyark")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("keyark")
    if found is None:
        raise RuntimeError("the keyark command is not installed; run 'make test'")
    return found


@dataclass
class CLI:
    """Runs the installed ``keyark`` in a subprocess with a repository environment."""

    env: dict[str, str]
    repo: Path
    cache: Path

    def run(
        self,
        *args: str,
        check: bool = False,
        env: dict[str, str] | None = None,
        input: bytes | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        merged = dict(self.env)
        merged.update(env or {})
        result = subprocess.run(
            [keyark_binary(), *args],
            env=merged,
            capture_output=True,
            text=True,
            input=input.decode() if input is not None else None,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"keyark {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    repo = tmp_path / "repo"
    cache = tmp_path / "cache"
    env.update(KEYARK_REPOSITORY=str(repo), KEYARK_PASSWORD=PASSWORD, KEYARK_CACHE_DIR=str(cache))
    env["KEYARK_TEST_FAST_KDF"] = os.environ.get("KEYARK_TEST_FAST_KDF", "1")
    env["KEYARK_STATE_DIR"] = str(tmp_path / "state")
    return CLI(env, repo, cache)


@pytest.fixture
def context(tmp_path: Path) -> OperationContext:
    return OperationContext(cache_dir=tmp_path / "cache")


def warning_context(cache_dir: Path | None = None) -> tuple[OperationContext, list[str]]:
    """A context whose warnings' messages are collected in the returned list."""
    messages: list[str] = []

    def sink(event: Event) -> None:
        if isinstance(event, OperationWarning):
            messages.append(event.message)

    return OperationContext(cache_dir=cache_dir, events=Events("", sink)), messages


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    created = ops.init_repository(str(tmp_path / "repo"), PASSWORD.encode(), pack_size_mib=1)
    created.close()
    opened = ops.open_repository(str(tmp_path / "repo"), Credentials(passphrase=PASSWORD.encode()))
    yield opened
    opened.close()


@contextmanager
def mounted_tmpfs(mount_point: Path, size: str = "3m") -> Iterator[Path]:
    """A tiny tmpfs at ``mount_point`` (for full-disk tests); skipped without root outside CI."""
    mount_point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a small tmpfs in CI: {result.stderr.strip()}")
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def make_tree(root: Path) -> Path:
    """A small tree of key-like material with odd corners."""
    (root / "tls").mkdir(parents=True)
    (root / "tls" / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIE...\n")
    (root / "tls" / "server.crt").write_text("-----BEGIN CERTIFICATE-----\nMIID...\n")
    (root / "ssh").mkdir()
    (root / "ssh" / "id_ed25519").write_bytes(os.urandom(400))
    os.chmod(root / "ssh" / "id_ed25519", 0o600)
    (root / "empty").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / "unicodé ✓ name").write_text("x")
    os.symlink("tls/server.crt", root / "current.crt")
    os.chmod(root / "ssh", 0o700)
    return root


def tree_state(root: Path) -> dict[str, tuple[object, ...]]:
    """Content and metadata of every entry below ``root`` (for equality checks)."""
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                state[rel] = ("dir", st.st_mode, st.st_mtime_ns)
            else:
                state[rel] = ("file", st.st_mode, st.st_mtime_ns, path.read_bytes())
    return state
