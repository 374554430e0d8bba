"""The audit log's append lock with many operations at once (issue 18 §3).

One state directory serves every operation of a machine (a server, or several agents
on one host). The lock that orders a writer's chain is per repository, and covers
only the local append, not the upload to the repository:

1. an operation on one repository never waits for an append to another one (real
   ``ops.backup`` runs; the other repository's lock is held by the test, as another
   process appending there would hold it);
2. an append to one repository does not wait for another append's upload to that
   same repository (the first upload is held at its storage write, observed).

Positive controls: an operation on the locked repository does wait; both copies of
the log verify afterwards, every record once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PASSWORD

from keyark import ops
from keyark.audit.keys import AuditKeys
from keyark.audit.local import LocalLog, writer_id
from keyark.audit.policy import AuditPolicy
from keyark.audit.reader import read_log
from keyark.audit.remote import PREFIX
from keyark.audit.target import AuditTarget
from keyark.audit.writer import now, write
from keyark.backends.local import LocalBackend
from keyark.config.models import RepositoryConfig, RepositorySpec
from keyark.context import Actor, OperationContext
from keyark.crypto.slots import Credentials

CREDS = Credentials(passphrase=PASSWORD.encode())
#: Upper bound on waiting for an event that must happen (a failure, not a schedule).
BOUND = 60.0


def _context(tmp: Path, name: str) -> OperationContext:
    return OperationContext(
        config=RepositoryConfig(repository=RepositorySpec(url=str(tmp / name))),
        credentials=CREDS,
        cache_dir=tmp / "cache",
        audit=AuditPolicy(directory=tmp / "audit"),  # one state directory for both
        actor=Actor("alice", "host-a", 4242),
    )


def _repo_id(ctx: OperationContext) -> str:
    repo = ops.open_repository(ctx.url, CREDS)
    try:
        return repo.repo_id
    finally:
        repo.close()


def _in_thread(action: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # reported by the test
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_operations_on_different_repositories_do_not_wait(tmp_path: Path) -> None:
    contexts = {name: _context(tmp_path, name) for name in ("repo-a", "repo-b")}
    for ctx in contexts.values():
        ops.init(ctx, ops.InitOptions(passphrase=PASSWORD.encode(), pack_size_mib=1))
    source = tmp_path / "src"
    source.mkdir()
    (source / "key.pem").write_text("not really a key\n")
    root = tmp_path / "audit"
    writer = writer_id(root)
    options = ops.BackupOptions(paths=[str(source)])
    with LocalLog(root, _repo_id(contexts["repo-a"])).lock(writer):  # another process appends
        waiting, waiting_errors = _in_thread(lambda: ops.backup(contexts["repo-a"], options))
        other, other_errors = _in_thread(lambda: ops.backup(contexts["repo-b"], options))
        other.join(BOUND)
        assert not other.is_alive() and not other_errors, other_errors
        assert waiting.is_alive()  # control: the same repository's append does wait
    waiting.join(BOUND)
    assert not waiting.is_alive() and not waiting_errors, waiting_errors
    for ctx in contexts.values():
        result = ops.audit_verify(ctx, ops.AuditVerifyOptions())
        assert result.problems == [], result.problems
        records = ops.audit_log(ctx, ops.AuditLogOptions()).records
        assert [r.operation for r in records].count("backup") == 1


class HeldUploads(LocalBackend):
    """The local backend; a write of an audit object waits until ``release`` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.entered = threading.Event()
        self.release = threading.Event()

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        if name.startswith(PREFIX):
            self.entered.set()
            assert self.release.wait(BOUND), "never released"
        super().put(name, data, overwrite=overwrite)


def _draft(operation: str) -> dict[str, object]:
    return {
        "time": now(),
        "operation": operation,
        "result": "ok",
        "actor": {"user": "alice"},
        "target": {},
        "params_digest": "",
        "error_code": None,
    }


def test_an_append_does_not_wait_for_another_upload(tmp_path: Path) -> None:
    url = tmp_path / "repo"
    ops.init_repository(str(url), PASSWORD.encode(), pack_size_mib=1).close()
    repo = ops.open_repository(str(url), CREDS)
    keys, repo_id = AuditKeys(repo.audit_secret), repo.repo_id
    policy = AuditPolicy(directory=tmp_path / "audit")
    held = HeldUploads(url)
    slow = AuditTarget(repo_id, str(url), keys, lambda: held)
    fast = AuditTarget(repo_id, str(url), keys, lambda: LocalBackend(url))
    local = LocalLog(policy.root(), repo_id)

    first, first_errors = _in_thread(lambda: write(policy, _draft("first"), [slow], None))
    assert held.entered.wait(BOUND)  # the first record is appended; its upload is held
    second, second_errors = _in_thread(lambda: write(policy, _draft("second"), [fast], None))
    second.join(BOUND)
    try:
        assert not second.is_alive() and not second_errors, second_errors
        (writer,) = local.writers()
        assert [r.operation for r in local.read(writer).records] == ["first", "second"]
        assert first.is_alive()  # control: the first upload really was still held
    finally:
        held.release.set()
    first.join(BOUND)
    assert not first.is_alive() and not first_errors, first_errors
    outcome = read_log(repo, policy, fast, None)
    repo.close()
    assert outcome.findings == []
    assert [r.operation for r in outcome.records] == ["first", "second"]
    assert ("record", 1) in local.read(writer).uploaded
    assert ("record", 2) in local.read(writer).uploaded
