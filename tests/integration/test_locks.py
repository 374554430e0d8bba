"""Shared and exclusive locks: conflicts, waiting, refresh, staleness and unlock."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from tests.integration.maint_helpers import backup, dead_pid, fake_lock, reopen, write_files

from keyark.context import OperationContext
from keyark.errors import EXIT_LOCKED, Hint, LockError
from keyark.maintenance.check import CheckOptions, check
from keyark.maintenance.forget import ForgetOptions, forget
from keyark.maintenance.prune import PruneOptions, prune
from keyark.maintenance.retention import RetentionPolicy
from keyark.maintenance.unlock import unlock
from keyark.repo import locks
from keyark.repo.locks import LOCK_PREFIX, lock_sealer, read_locks
from keyark.repo.repository import Repository


def lock_names(repo: Repository) -> set[str]:
    return {info.name for info in repo.backend.list(LOCK_PREFIX)}


def test_shared_locks_coexist_exclusive_conflicts(repo: Repository) -> None:
    other = reopen(repo)
    with repo.lock("backup"), other.lock("backup"):
        assert len(lock_names(repo)) == 2
        with pytest.raises(LockError) as error:
            other.lock("prune", exclusive=True)
    assert error.value.exit_code == EXIT_LOCKED
    message = str(error.value)
    assert "shared by backup on host" in message and socket.gethostname() in message
    assert f"pid {os.getpid()}" in message and "since 20" in message
    assert error.value.hint is Hint.UNLOCK  # the CLI words it "run 'keyark unlock'"
    assert lock_names(repo) == set()
    with repo.lock("prune", exclusive=True), pytest.raises(LockError, match="exclusively by prune"):
        other.lock("backup")


def test_prune_during_a_backup_fails_cleanly_or_waits(repo: Repository, tmp_path: Path) -> None:
    write_files(tmp_path / "src", {"a": 1000, "b": 2000})
    backup(repo, tmp_path / "src")
    backup(repo, tmp_path / "src")
    forget(repo, ForgetOptions(policy=RetentionPolicy(last=1)))
    pruner = reopen(repo)
    held = repo.lock("backup")
    started = time.monotonic()
    with pytest.raises(LockError, match=r"locked shared by backup .*\(waited 1s\)"):
        prune(pruner, PruneOptions(), OperationContext(lock_wait=1.0))
    assert 0.9 < time.monotonic() - started < 5
    threading.Timer(1.0, held.release).start()
    summary = prune(pruner, PruneOptions(), OperationContext(lock_wait=30.0))
    assert summary.plan.snapshots == 1


def test_stale_locks_are_ignored_and_unlocked(repo: Repository) -> None:
    dead = fake_lock(repo, pid=dead_pid(), exclusive=True)
    expired = fake_lock(repo, pid=1, host="elsewhere", exclusive=True, expires_in=-1)
    repo.lock("prune", exclusive=True).release()  # stale locks do not block
    alive = fake_lock(repo, pid=os.getpid(), host="elsewhere")
    with pytest.raises(LockError, match="on host elsewhere"):
        repo.lock("prune", exclusive=True)
    removed = unlock(repo)
    assert {info.name for info in removed} == {dead, expired}
    assert lock_names(repo) == {alive}
    removed = unlock(repo, remove_all=True)
    assert [info.name for info in removed] == [alive]
    assert lock_names(repo) == set()


def test_unreadable_lock_blocks_exclusive_until_unlock(repo: Repository) -> None:
    repo.backend.put(LOCK_PREFIX + "garbage", b"not a lock")
    repo.lock("backup").release()  # shared operations ignore it (with a warning)
    with pytest.raises(LockError, match="unreadable lock"):
        repo.lock("prune", exclusive=True)
    assert [info.name for info in unlock(repo)] == [LOCK_PREFIX + "garbage"]
    repo.lock("prune", exclusive=True).release()


def test_locks_are_refreshed_while_held(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "REFRESH_SECONDS", 0.2)
    held = repo.lock("backup")
    first = held.name
    deadline = time.monotonic() + 5
    while held.name == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held.name != first
    time.sleep(0.1)
    names = lock_names(repo)
    assert first not in names and held.name in names
    [info] = list(read_locks(repo.backend, lock_sealer(repo.keys.keyring.id_key)))
    assert info.expires > time.time() + locks.EXPIRY_SECONDS - 5
    held.ensure_valid()
    held.release()
    assert lock_names(repo) == set()


def test_lock_that_could_not_be_refreshed_stops_deletion(repo: Repository) -> None:
    held = repo.lock("prune", exclusive=True)
    held._written_at -= locks.EXPIRY_SECONDS  # as if every refresh had failed
    with pytest.raises(LockError, match="may have expired"):
        held.ensure_valid()
    held.release()


def test_backup_uses_an_index_loaded_under_its_lock(repo: Repository, tmp_path: Path) -> None:
    """An index read before the lock may name packs a prune has deleted since."""
    source = write_files(tmp_path / "src", {"a": 30_000, "b": 40_000})
    seed = backup(repo, source)
    forget(repo, ForgetOptions(ids=[seed.id]))
    writer = reopen(repo)
    writer.blobs.load_index()  # e.g. a pre-flight check before the backup takes its lock
    prune(reopen(repo), PruneOptions())  # deletes every pack of the forgotten seed
    backup(writer, source)  # dedups against what it sees under its lock
    summary = check(reopen(repo), CheckOptions(read_data=True))
    assert summary.ok, summary.problems
