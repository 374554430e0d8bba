"""The audit log: one record per audited operation, and ``audit verify`` catches tampering.

Real repositories on disk, the real catalogue (every call passes its audit hook); each
tampering test first shows a clean verify (the positive control), then breaks one thing
in one copy and expects the first bad record to be named.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from tests.conftest import PASSWORD

from keyark import ops
from keyark.audit.keys import AuditKeys
from keyark.audit.local import LocalLog
from keyark.audit.policy import AuditPolicy
from keyark.audit.record import AuditRecord
from keyark.audit.remote import PREFIX, RemoteLog, record_name
from keyark.config.models import RepositoryConfig, RepositorySpec
from keyark.context import Actor, OperationContext
from keyark.crypto.slots import Credentials
from keyark.errors import WrongPasswordError


def _context(tmp_path: Path, *, password: str = PASSWORD, every: int = 3) -> OperationContext:
    return OperationContext(
        config=RepositoryConfig(repository=RepositorySpec(url=str(tmp_path / "repo"))),
        credentials=Credentials(passphrase=password.encode()),
        cache_dir=tmp_path / "cache",
        audit=AuditPolicy(directory=tmp_path / "audit", checkpoint_every=every),
        actor=Actor("alice", "host-a", 4242, job="nightly"),
    )


@pytest.fixture
def audited(tmp_path: Path) -> OperationContext:
    """A repository made by ``init`` and backed up twice, through the catalogue."""
    ctx = _context(tmp_path)
    ops.init(ctx, ops.InitOptions(passphrase=PASSWORD.encode(), pack_size_mib=1))
    source = tmp_path / "src"
    source.mkdir()
    (source / "key.pem").write_text("not really a key\n")
    ops.backup(ctx, ops.BackupOptions(paths=[str(source)]))
    (source / "other").write_text("more\n")
    ops.backup(ctx, ops.BackupOptions(paths=[str(source)]))
    return ctx


def _log(ctx: OperationContext) -> list[AuditRecord]:
    return ops.audit_log(ctx, ops.AuditLogOptions()).records


def _verify(ctx: OperationContext, *, restore: bool = True) -> ops.AuditVerifyResult:
    return ops.audit_verify(ctx, ops.AuditVerifyOptions(restore_local=restore))


def _local(ctx: OperationContext) -> tuple[LocalLog, Path]:
    assert ctx.audit is not None
    root = ctx.audit.root()
    repo_dirs = [p for p in root.iterdir() if p.is_dir() and len(p.name) == 64]
    assert len(repo_dirs) == 1
    local = LocalLog(root, repo_dirs[0].name)
    (writer,) = local.writers()
    return local, local.path(writer)


def _remote(ctx: OperationContext) -> tuple[RemoteLog, Path, str]:
    repo = ops.open_repository(ctx.url, Credentials(passphrase=PASSWORD.encode()))
    try:
        return RemoteLog(repo.backend, AuditKeys(repo.audit_secret)), Path(ctx.url), repo.repo_id
    finally:
        repo.close()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_lines(path: Path, lines: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))


def test_every_audited_operation_appears_once_with_its_actor_and_result(
    audited: OperationContext, tmp_path: Path
) -> None:
    ctx = audited
    ops.snapshots(ctx, ops.SnapshotsOptions())  # a plain read: not audited
    ops.tag(ctx, ops.TagOptions(snapshots=["latest"], add=["audited"]))
    ops.restore(ctx, ops.RestoreOptions(target=str(tmp_path / "out"), snapshot="latest"))
    with pytest.raises(WrongPasswordError):
        ops.snapshots(_context(tmp_path, password="wrong"), ops.SnapshotsOptions())
    ops.forget(ctx, ops.ForgetOptions(policy=ops.RetentionPolicy(last=1)))
    records = _log(ctx)
    names = [record.operation for record in records]
    # init (adopted from pending), 2 backups, tag, restore, failed unlock, forget, audit_log
    assert names == ["init", "backup", "backup", "tag", "restore", "snapshots", "forget"]
    failed = records[5]
    assert (failed.result, failed.error_code) == ("failure", "wrong_password")
    for record in records:
        assert record.actor["user"] == "alice" and record.actor["job"] == "nightly"
        assert record.actor["uid"] == os.getuid() and record.actor["host"] == "host-a"
        assert record.params_digest.startswith("sha256:")
    assert all(r.result == "success" for i, r in enumerate(records) if i != 5)
    backup = records[1]
    assert len(backup.target["snapshot_id"]) == 64
    assert backup.target["repositories"] == records[0].target["repositories"]
    # Reading the log is audited too: the read above is the next record.
    assert _log(ctx)[-1].operation == "audit_log"
    # No secret reaches the log: neither passphrase appears in either copy.
    _, path = _local(ctx)
    assert PASSWORD not in path.read_text() and "wrong" not in json.dumps(
        [r.to_dict() for r in records if r.error_code is None]
    )
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_forget_and_prune_never_remove_audit_objects(audited: OperationContext) -> None:
    _remote_log, repo_path, _ = _remote(audited)
    before = sorted(p.name for p in (repo_path / "audit").rglob("*") if p.is_file())
    ops.forget(audited, ops.ForgetOptions(policy=ops.RetentionPolicy(last=1), prune=True))
    ops.prune(audited, ops.PruneOptions())
    after = {p.name for p in (repo_path / "audit").rglob("*") if p.is_file()}
    assert before and set(before) <= after


def test_clean_log_verifies(audited: OperationContext) -> None:
    result = _verify(audited)
    assert result.ok, result.problems
    assert result.records == 3 and result.writers == 1 and result.checkpoints == 1


def _edit_local(path: Path, index: int, **changes: object) -> None:
    lines = _lines(path)
    records = [line for line in lines if line["type"] == "record"]
    record = records[index]["record"]
    assert isinstance(record, dict)
    record.update(changes)
    _write_lines(path, lines)


def test_verify_names_an_edited_local_record(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _local_log, path = _local(audited)
    _edit_local(path, 1, result="failure")
    result = _verify(audited)
    assert not result.ok
    assert result.first_bad is not None and result.first_bad.endswith("/2")
    assert result.problems[0].kind == "edited"


def test_verify_names_an_edited_repository_object(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _, repo_path, _ = _remote(audited)
    (writer,) = os.listdir(repo_path / "audit")
    target = repo_path / record_name(writer, 2)
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    os.chmod(target, 0o600)
    target.write_bytes(bytes(data))
    result = _verify(audited)
    assert result.first_bad == f"{writer}/2" and result.problems[0].kind == "edited"


def test_verify_names_a_deleted_record(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _, path = _local(audited)
    _remote_log, repo_path, _ = _remote(audited)
    (writer,) = os.listdir(repo_path / "audit")
    (repo_path / record_name(writer, 2)).unlink()  # from the repository copy ...
    result = _verify(audited)
    assert result.first_bad == f"{writer}/2" and result.problems[0].kind == "deleted"
    lines = [
        line
        for line in _lines(path)
        if not (line["type"] == "record" and line["record"]["seq"] == 2)  # type: ignore[index]
    ]
    _write_lines(path, lines)  # ... and from the local one: the chain has a gap
    result = _verify(audited)
    assert result.first_bad == f"{writer}/2" and result.problems[0].kind == "deleted"


def test_verify_names_two_swapped_local_records(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _local_log, path = _local(audited)
    lines = _lines(path)
    positions = [i for i, line in enumerate(lines) if line["type"] == "record"]
    first, second = positions[1], positions[2]
    lines[first], lines[second] = lines[second], lines[first]
    _write_lines(path, lines)
    result = _verify(audited)
    assert not result.ok and result.problems[0].kind == "reordered"
    assert result.first_bad is not None and result.first_bad.endswith("/2")


def test_verify_names_two_swapped_repository_records(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _remote_log, repo_path, _ = _remote(audited)
    (writer,) = os.listdir(repo_path / "audit")
    one, two = repo_path / record_name(writer, 2), repo_path / record_name(writer, 3)
    swap = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(swap)
    result = _verify(audited)
    # Each object is bound to its name: swapped, neither opens.
    assert result.first_bad == f"{writer}/2" and result.problems[0].kind == "edited"


def test_verify_names_an_inserted_forged_record(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _local_log, path = _local(audited)
    lines = _lines(path)
    records = [line for line in lines if line["type"] == "record"]
    last = AuditRecord.from_dict(records[-1]["record"])
    forged = AuditRecord.from_dict(
        {
            **last.to_dict(),
            "seq": last.seq + 1,
            "prev": last.chain_hash(),
            "operation": "restore",
            "mac": "00" * 32,  # whoever inserts it has no audit key
        }
    )
    lines.append({"type": "record", "record": forged.to_dict()})
    _write_lines(path, lines)
    result = _verify(audited)
    assert result.first_bad == forged.ref and result.problems[0].kind == "edited"


def test_a_deleted_local_log_is_detected_and_restored(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _local_log, path = _local(audited)
    original = path.read_text()
    path.unlink()
    result = _verify(audited)
    assert not result.ok and result.problems[0].kind == "local_deleted"
    assert result.restored == 4  # init, two backups, the first verify
    restored = [line["record"] for line in _lines(path) if line["type"] == "record"]
    before = [json.loads(line) for line in original.splitlines()]
    assert restored[:4] == [line["record"] for line in before if line["type"] == "record"]
    assert _verify(audited).ok  # and the chain goes on from there


def test_a_deleted_repository_copy_is_detected(audited: OperationContext) -> None:
    assert _verify(audited).ok
    _remote_log, repo_path, _ = _remote(audited)
    shutil.rmtree(repo_path / "audit")
    result = _verify(audited)
    assert not result.ok and result.problems[0].kind == "deleted"
    assert result.first_bad is not None and result.first_bad.endswith("/1")


def test_truncation_covered_by_a_checkpoint_is_detected(tmp_path: Path) -> None:
    ctx = _context(tmp_path, every=2)
    ops.init(ctx, ops.InitOptions(passphrase=PASSWORD.encode(), pack_size_mib=1))
    for _ in range(3):
        ops.tag(ctx, ops.TagOptions(snapshots=[], all_snapshots=True, add=["x"]))
    assert _verify(ctx).ok  # 4 records (+1 verify); checkpoints at 2 and 4
    _, path = _local(ctx)
    _remote_log, repo_path, _ = _remote(ctx)
    (writer,) = os.listdir(repo_path / "audit")
    # Drop records 4.. from both copies (the checkpoint at 4 stays).
    keep = [
        line
        for line in _lines(path)
        if not (line["type"] == "record" and line["record"]["seq"] >= 4)  # type: ignore[index]
    ]
    _write_lines(path, keep)
    for seq in range(4, 7):
        (repo_path / record_name(writer, seq)).unlink(missing_ok=True)
    result = _verify(ctx)
    assert result.first_bad == f"{writer}/4" and result.problems[0].kind == "truncated"


def test_records_name_their_repository_objects(audited: OperationContext) -> None:
    remote, _path, _repo_id = _remote(audited)
    scan = remote.scan()
    (writer,) = scan.records
    assert sorted(scan.records[writer]) == [1, 2, 3]
    assert all(name.startswith(PREFIX) for name in [record_name(writer, 1)])


def test_the_log_still_verifies_after_key_rotation(audited: OperationContext) -> None:
    """Audit keys come from the keyring's id key, which rotation keeps: old records verify."""
    assert _verify(audited).ok
    ops.key_rotate(audited, ops.RotateOptions(reencrypt=True, root=True))
    result = _verify(audited)
    assert result.ok, result.problems
    assert [r.operation for r in _log(audited)][-2:] == ["key rotate", "audit_verify"]
