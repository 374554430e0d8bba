"""Cancelling ``key rotate --reencrypt`` and ``copy``: stopped mid-way, unlocked, consistent.

Each run is cancelled from the event sink at its first progress event with work
done (not by a timer), so the cancel lands in the middle of the work. Afterwards
no lock object is left in any repository involved, every repository checks clean,
and the same operation run again completes (it resumes what the cancelled run did).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import PASSWORD
from tests.integration.maint_helpers import backup, operation_context, reopen, write_files
from tests.integration.test_maint_cancel import CancelAt, assert_checks_clean, locks_left

from keyark import ops
from keyark.config import CredentialSpec, RepositoryConfig, RepositorySpec, SecretRef
from keyark.crypto.slots import Credentials
from keyark.errors import CancelledError
from keyark.events import Failed
from keyark.repo.repository import Repository

KIB = 1024
CREDS = Credentials(passphrase=PASSWORD.encode())


def history(repo: Repository, tmp_path: Path) -> None:
    """Two snapshots over ~30 files of 60-90 KiB (1 MiB packs: several packs)."""
    source = tmp_path / "src"
    sizes = {f"d{i % 3}/f{i}": (60 + i) * KIB for i in range(30)}
    write_files(source, sizes)
    backup(repo, source)
    write_files(source, {name: size for i, (name, size) in enumerate(sizes.items()) if i % 2})
    backup(repo, source)


def test_reencrypt_is_cancelled_at_its_first_pack(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    retired = repo.keys.keyring.current.key_id.hex()
    sink = CancelAt(("re-encrypt",))
    options = ops.RotateOptions(reencrypt=True)
    with pytest.raises(CancelledError):
        ops.key_rotate(operation_context(repo, sink, sink.token), options)
    fired = sink.fired
    assert fired is not None and fired.files_total is not None
    assert 0 < fired.files_done < fired.files_total  # stopped in the middle
    assert any(isinstance(e, Failed) and e.code == "cancelled" for e in sink.events)
    assert locks_left(repo) == []
    assert_checks_clean(reopen(repo))
    status = ops.key_status(operation_context(repo), ops.KeyStatusOptions())
    assert status.reencrypt_pending  # the marker makes the next run resume
    # Positive control: run again without a cancel; it finishes the same job.
    control = CancelAt(("re-encrypt",), cancel=False)
    done = ops.key_rotate(operation_context(repo, control), options)
    assert done.reencrypt is not None and retired in done.reencrypt.retired_keys_removed
    assert done.current == done.reencrypt.target_key
    last = control.progress("re-encrypt")[-1]
    assert last.files_done == last.files_total == done.reencrypt.packs_rewritten
    assert locks_left(repo) == []
    status = ops.key_status(operation_context(repo), ops.KeyStatusOptions())
    assert [epoch.id for epoch in status.epochs] == [done.current]
    assert not status.reencrypt_pending
    assert_checks_clean(reopen(repo))


def test_copy_is_cancelled_at_its_first_file(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    target_url = str(tmp_path / "target")
    ops.init_repository(target_url, PASSWORD.encode(), pack_size_mib=1).close()
    target = ops.open_repository(target_url, CREDS)
    source = RepositoryConfig(
        repository=RepositorySpec(url=repo.backend.location()),
        credentials=CredentialSpec(passphrase=[SecretRef.of(PASSWORD)]),
    )
    options = ops.CopyOptions(source, all_snapshots=True)
    sink = CancelAt(("copy",))
    with pytest.raises(CancelledError):
        ops.copy(operation_context(target, sink, sink.token), options)
    assert sink.fired is not None and sink.fired.files_done > 0
    assert any(isinstance(e, Failed) and e.code == "cancelled" for e in sink.events)
    assert locks_left(repo) == [] and locks_left(target) == []
    assert target.snapshots.ids() == []  # no snapshot was half copied
    assert_checks_clean(reopen(repo))
    assert_checks_clean(reopen(target))
    # Positive control: the same copy without a cancel copies every snapshot.
    control = CancelAt(("copy",), cancel=False)
    summary = ops.copy(operation_context(target, control), options)
    assert control.fired is not None and len(summary.copied) == len(repo.snapshots.ids()) == 2
    assert control.progress("copy")[-1].files_done == summary.files
    assert locks_left(repo) == [] and locks_left(target) == []
    assert_checks_clean(reopen(target))
    target.close()
