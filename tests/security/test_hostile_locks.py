"""Hostile lock objects never crash or permanently block locking commands (issue 8 section 6).

The attack from review: anyone holding the id key (every write-only agent) can seal a lock
whose ``expires`` is a string; every locking command then crashed with ``TypeError``.
Also: undecryptable garbage, a valid lock renamed (so its name binding fails), and
out-of-range values (a pid that overflows ``os.kill``, a far-future ``created``).
The documented rule (``keyark.repo.locks``): an unreadable lock is ignored by shared
operations (reported), stops exclusive ones with a LockError naming it, and plain
``keyark unlock`` removes it. Positive control: a valid live foreign lock is still
honoured and is not removed by plain ``unlock``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD
from tests.e2e.maint_cli import assert_one_line_error, init_small
from tests.integration.maint_helpers import fake_lock

from keyark import ops
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.slots import Credentials
from keyark.errors import EXIT_LOCKED, Hint, LockError
from keyark.maintenance.unlock import unlock
from keyark.repo.locks import LOCK_PREFIX, lock_sealer
from keyark.repo.repository import Repository


def plant_lock(repo: Repository, **changes: object) -> str:
    """Seal a lock document with the real lock key (as any agent can), fields changed."""
    now = time.time()
    document: dict[str, object] = {
        "host": "agent-host",
        "pid": 4242,
        "username": "agent",
        "operation": "backup",
        "exclusive": True,
        "created": now,
        "expires": now + 600,
    }
    document.update(changes)
    name = LOCK_PREFIX + os.urandom(16).hex()
    sealer = lock_sealer(repo.keys.keyring.id_key)
    repo.backend.put(
        name, sealer.seal(ObjectKind.LOCK, name.encode(), json.dumps(document).encode())
    )
    return name


def lock_names(repo: Repository) -> set[str]:
    return {info.name for info in repo.backend.list(LOCK_PREFIX)}


HOSTILE = {
    "expires a string": {"expires": "tomorrow"},
    "pid overflowing os.kill": {"pid": 2**70, "host": socket.gethostname(), "expires": 1e300},
    "created in year 30000": {"created": 9e11, "expires": 9e11 + 1},
    "exclusive a string": {"exclusive": "yes"},
    "host a list": {"host": ["a"]},
    "expires NaN": {"expires": float("nan")},
    "missing fields": {"pid": None},
}


@pytest.mark.parametrize("changes", HOSTILE.values(), ids=list(HOSTILE))
def test_malformed_lock_is_reported_ignored_by_backup_and_removed_by_unlock(
    repo: Repository, changes: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    bad = plant_lock(repo, **changes)
    [info] = repo.locks.read()
    assert not info.readable and info.name == bad
    info.is_stale()
    assert bad in info.describe()
    with caplog.at_level(logging.WARNING, logger="keyark.locks"):
        repo.lock("backup").release()  # a shared operation goes on
    [ignored] = [r for r in caplog.records if bad in r.getMessage()]
    assert getattr(ignored, "hint", None) is Hint.REMOVE_LOCK  # the face says: unlock
    with pytest.raises(LockError) as error:
        repo.lock("prune", exclusive=True)
    assert bad in str(error.value) and error.value.hint is Hint.REMOVE_LOCK  # words: unlock
    removed = unlock(repo)
    assert [(i.name, i.readable) for i in removed] == [(bad, False)]
    assert lock_names(repo) == set()
    repo.lock("prune", exclusive=True).release()


def test_undecryptable_and_renamed_locks(repo: Repository) -> None:
    garbage = LOCK_PREFIX + "f" * 32
    repo.backend.put(garbage, os.urandom(120))
    genuine = plant_lock(repo)
    renamed = LOCK_PREFIX + "e" * 32
    repo.backend.put(renamed, repo.backend.get(genuine))  # name binding (AAD) fails
    repo.backend.delete(genuine)
    infos = {i.name: i for i in repo.locks.read()}
    assert set(infos) == {garbage, renamed}
    assert not any(i.readable for i in infos.values())
    repo.lock("backup").release()
    with pytest.raises(LockError, match="unreadable lock"):
        repo.lock("prune", exclusive=True)
    assert {i.name for i in unlock(repo)} == {garbage, renamed}
    repo.lock("prune", exclusive=True).release()


def test_positive_control_valid_foreign_lock_is_still_honoured(repo: Repository) -> None:
    """A well-formed live lock of another host blocks as before and plain unlock keeps it."""
    alive = plant_lock(repo, host="elsewhere", operation="prune")
    with pytest.raises(LockError, match="exclusively by prune on host elsewhere"):
        repo.lock("backup")
    assert unlock(repo) == []
    assert lock_names(repo) == {alive}
    assert [i.name for i in unlock(repo, remove_all=True)] == [alive]


def test_cli_unlock_reports_and_removes_an_unreadable_lock(cli: CLI, tmp_path: Path) -> None:
    init_small(cli)
    source = tmp_path / "src"
    source.mkdir()
    (source / "server.key").write_text("secret")
    repo = ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))
    try:
        bad = plant_lock(repo, expires="tomorrow")
        fake_lock(repo, pid=os.getpid(), host="other-host")  # positive control: stays
    finally:
        repo.close()
    backup = cli.run("backup", str(source))
    assert backup.returncode == 0 and "Traceback" not in backup.stderr, backup.stderr
    assert bad in backup.stderr  # reported by name
    line = assert_one_line_error(cli.run("prune"), EXIT_LOCKED)
    assert "keyark unlock" in line and "Traceback" not in line
    result = cli.run("unlock", check=True)
    assert f"removed unreadable lock {bad.rsplit('/', 1)[-1][:8]}" in result.stdout
    assert "1 lock removed" in result.stdout
    line = assert_one_line_error(cli.run("prune"), EXIT_LOCKED)
    assert "on host other-host" in line
    removed = json.loads(cli.run("unlock", "--remove-all", "--json", check=True).stdout)
    assert [lock["host"] for lock in removed] == ["other-host"]
    assert cli.run("prune", check=True).returncode == 0
