"""Helpers shared by the maintenance tests (prune, check, repair, locks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PASSWORD, tree_state

from keyark import ops
from keyark.archiver.backup import BackupOptions
from keyark.archiver.backup import backup as run_backup
from keyark.cancel import NEVER, CancelToken
from keyark.catalog.trees import walk
from keyark.config.models import RepositoryConfig, RepositorySpec
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.slots import Credentials
from keyark.events import Events, EventSink
from keyark.repo.locks import LOCK_PREFIX, lock_sealer
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import FILE
from keyark.restorer.run import RestoreOptions
from keyark.restorer.run import restore as run_restore


def reopen(repo: Repository) -> Repository:
    """A fresh session on the same repository (no cached index)."""
    return ops.open_repository(repo.backend.location(), Credentials(passphrase=PASSWORD.encode()))


def operation_context(
    repo: Repository,
    sink: EventSink | None = None,
    cancel: CancelToken = NEVER,
    *,
    lock_wait: float = 0.0,
) -> ops.OperationContext:
    """A context for catalogue operations on ``repo``'s storage (every progress event sent)."""
    location = repo.backend.location()
    return ops.OperationContext(
        config=RepositoryConfig(repository=RepositorySpec(url=location)),
        credentials=Credentials(passphrase=PASSWORD.encode()),
        cache_dir=Path(location).parent / "cache",
        events=Events("", sink, interval=0.0),
        cancel=cancel,
        lock_wait=lock_wait,
    )


def write_files(root: Path, files: dict[str, int], seed: int = 0) -> Path:
    """Files of random content and the given sizes below ``root``."""
    for name, size in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size) if seed >= 0 else b"\0" * size)
    return root


def backup(
    repo: Repository, path: Path, ctx: ops.OperationContext | None = None, **kwargs: object
) -> Snapshot:
    """Back up ``path`` through this session (``ctx``: default :func:`operation_context`)."""
    context = ctx if isinstance(ctx, ops.OperationContext) else operation_context(repo)
    options = BackupOptions(paths=[str(path)], **kwargs)  # type: ignore[arg-type]
    summary = run_backup(repo, options, context)
    return repo.snapshots.load(summary.snapshot_id)


def objects(repo: Repository) -> dict[str, int]:
    """Every stored object except locks: name -> size."""
    return {
        info.name: info.size for info in repo.backend.list("") if not info.name.startswith("locks/")
    }


def pack_ids(repo: Repository) -> set[bytes]:
    return set(repo.stored_packs())


def file_blobs(repo: Repository, snapshot: Snapshot) -> dict[str, list[bytes]]:
    """Path inside the snapshot -> content blob ids."""
    repo.blobs.load_index()
    return {
        entry.path: list(entry.node.content)
        for entry in walk(repo.blobs.load_tree, snapshot.tree)
        if entry.node.type == FILE
    }


def restored_state(
    repo: Repository, snapshot: Snapshot, target: Path
) -> dict[str, tuple[object, ...]]:
    """Restore ``snapshot`` into ``target`` and return the state of its source path."""
    run_restore(repo, snapshot, RestoreOptions(str(target)), operation_context(repo))
    return tree_state(target / snapshot.paths[0].lstrip("/"))


def fake_lock(
    repo: Repository,
    *,
    pid: int,
    host: str | None = None,
    exclusive: bool = False,
    expires_in: float = 600.0,
    operation: str = "backup",
) -> str:
    """Store a lock object as another process would have."""
    now = time.time()
    document = {
        "host": host or socket.gethostname(),
        "pid": pid,
        "username": "someone",
        "operation": operation,
        "exclusive": exclusive,
        "created": now - 60,
        "expires": now + expires_in,
    }
    name = LOCK_PREFIX + os.urandom(16).hex()
    sealer = lock_sealer(repo.keys.keyring.id_key)
    repo.backend.put(
        name, sealer.seal(ObjectKind.LOCK, name.encode(), json.dumps(document).encode())
    )
    return name


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
