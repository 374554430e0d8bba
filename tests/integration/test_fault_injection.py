"""Backups over real servers with injected faults, a dying backend, and a server restart.

The repository is created on the bare backend; the backup runs through a
:class:`FaultInjectingBackend` (and the retry wrapper, as ``open_storage`` sets it
up); afterwards the repository is checked with ``--read-data`` on the bare backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conformance.servers import Server, open_fresh_backend, start_sshd
from tests.conftest import PASSWORD, make_tree, tree_state
from tests.integration.maint_helpers import write_files

from keyark.archiver.backup import BackupOptions, backup
from keyark.backends.base import Backend
from keyark.backends.registry import BackendOptions, open_backend
from keyark.backends.retry import RetryingBackend
from keyark.catalog.snapshots import find_snapshot
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials
from keyark.errors import PermanentBackendError
from keyark.maintenance.check import CheckOptions, check
from keyark.repo.repository import Repository
from keyark.restorer.run import RestoreOptions, restore
from keyark.testing.faults import FaultInjectingBackend

MIB = 1024 * 1024
CREDENTIALS = Credentials(passphrase=PASSWORD.encode())


class Unclosable:
    """The backend, but ``close()`` (which closing a repository calls) does nothing:
    one bare connection serves several repository sessions of a test."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def close(self) -> None:
        pass


def bare(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A fresh bare backend with one connection: one thread draws the faults, in order."""
    prefix = "ftp" if kind == "ftps" else kind
    inner = open_fresh_backend(kind, request, tmp_path, **{f"{prefix}_connections": 1})
    return Unclosable(inner)


def fresh_repository(backend: Backend) -> None:
    create = getattr(backend, "create_container", None)
    if create is not None:
        create()
    Repository.init(backend, PASSWORD.encode(), pack_size=MIB).close()


def source_tree(root: Path) -> Path:
    make_tree(root)
    return write_files(root, {f"data/f{n}.bin": 700_000 + n * 4099 for n in range(12)})


def assert_consistent(backend: Backend, snapshots: int, tmp_path: Path) -> None:
    """check --read-data passes on the bare backend; the snapshot count is as expected."""
    with Repository.open(backend, CREDENTIALS) as repo:
        summary = check(repo, CheckOptions(read_data=True))
        assert summary.ok, [p.message for p in summary.problems]
        assert len(repo.snapshots.ids()) == snapshots


def restore_equal(backend: Backend, source: Path, target: Path, ctx: OperationContext) -> None:
    with Repository.open(backend, CREDENTIALS) as repo:
        snapshot = find_snapshot(repo, "latest", ctx)
        restore(repo, snapshot, RestoreOptions(target=str(target), verify=True), ctx)
    assert tree_state(target / source.relative_to("/")) == tree_state(source)


def fast_retries(inner: Backend, attempts: int = 12) -> RetryingBackend:
    return RetryingBackend(inner, attempts=attempts, base_delay=0.001, max_delay=0.01)


@pytest.mark.parametrize("kind", ["sftp", "s3", "ftp"])
def test_backup_with_twenty_percent_transient_faults(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    raw = bare(kind, request, tmp_path)
    fresh_repository(raw)
    source = source_tree(tmp_path / "src")
    ctx = OperationContext(cache_dir=tmp_path / "cache")
    faulty = FaultInjectingBackend(raw, transient_rate=0.2, seed=20)
    retrying = fast_retries(faulty)
    with Repository.open(retrying, CREDENTIALS) as repo:
        summary = backup(repo, BackupOptions([str(source)]), ctx)
    assert summary.complete and summary.files_new == 18
    injected = faulty.injected
    assert injected["put-before"] + injected["put-after"] >= 1, injected
    assert sum(injected.values()) >= 3 and retrying.retries == sum(injected.values())
    assert_consistent(raw, 1, tmp_path)
    restore_equal(retrying, source, tmp_path / "out", ctx)
    raw.inner.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["sftp", "s3"])
def test_permanent_failure_mid_backup_leaves_repository_consistent(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    raw = bare(kind, request, tmp_path)
    fresh_repository(raw)
    source = source_tree(tmp_path / "src")
    ctx = OperationContext(cache_dir=tmp_path / "cache")
    with Repository.open(raw, CREDENTIALS) as repo:
        backup(repo, BackupOptions([str(source / "tls")]), ctx)
    dying = FaultInjectingBackend(raw, transient_rate=0.0)
    with Repository.open(fast_retries(dying), CREDENTIALS) as repo:
        dying.permanent_after = dying._calls + 12  # a few packs in, then it dies
        with pytest.raises(PermanentBackendError) as caught:
            backup(repo, BackupOptions([str(source)]), ctx)
    message = str(caught.value)
    assert "\n" not in message and raw.location() in message and "permanent failure" in message
    assert dying.injected["permanent"] >= 1
    assert_consistent(raw, 1, tmp_path)
    with Repository.open(raw, CREDENTIALS) as repo:  # the next run succeeds
        assert backup(repo, BackupOptions([str(source)]), ctx).complete
    assert_consistent(raw, 2, tmp_path)
    restore_equal(raw, source, tmp_path / "out", ctx)
    raw.inner.close()  # type: ignore[attr-defined]


class KillOnPut:
    """Passes through to ``inner``; at the ``nth`` pack upload kills the server and
    restarts it ``down_seconds`` later (same port, same files) in the background."""

    def __init__(
        self, inner: Backend, nth: int, kill: Callable[[], None], restart: Callable[[], None]
    ) -> None:
        self.inner = inner
        self.nth = nth
        self._kill, self._restart = kill, restart
        self._puts = 0
        self._lock = threading.Lock()
        self.restarter: threading.Thread | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        with self._lock:
            if name.startswith("data/"):
                self._puts += 1
                if self._puts == self.nth:
                    self._kill()
                    self.restarter = threading.Thread(target=self._restart)
                    self.restarter.start()
        self.inner.put(name, data, overwrite=overwrite)


def test_sftp_server_restarted_within_the_retry_window(tmp_path: Path) -> None:
    work = tmp_path / "sshd"
    work.mkdir()
    servers: list[Server] = []
    server, ssh = start_sshd(work)
    servers.append(server)

    def restart() -> None:
        time.sleep(1.5)
        servers.append(start_sshd(work, port=ssh.port)[0])

    url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/repo"
    settings = {"sftp_identity": str(ssh.identity), "sftp_known_hosts": str(ssh.known_hosts)}
    raw = Unclosable(open_backend(url, BackendOptions(settings)))
    try:
        fresh_repository(raw)
        source = source_tree(tmp_path / "src")
        ctx = OperationContext(cache_dir=tmp_path / "cache")
        killer = KillOnPut(raw, 2, servers[0].kill_all, restart)
        patient = RetryingBackend(killer, attempts=40, base_delay=0.2, max_delay=1.0)  # type: ignore[arg-type]
        with Repository.open(patient, CREDENTIALS) as repo:
            summary = backup(repo, BackupOptions([str(source)]), ctx)
        assert summary.complete and killer.restarter is not None
        killer.restarter.join()
        assert patient.retries >= 1, "the kill should have cost retries"
        assert_consistent(raw, 1, tmp_path)
        restore_equal(raw, source, tmp_path / "out", ctx)
    finally:
        raw.inner.close()
        for running in servers:
            running.stop()
