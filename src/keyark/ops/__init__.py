"""The operation catalogue: the one core every face (CLI, Python API, daemon, HTTP) calls.

Each operation takes an :class:`OperationContext` and typed options and returns a
typed result with ``to_dict()``; :data:`CATALOGUE` lists them with their options
and result types and whether they change the repository or read secret content.
Faces import this package, :mod:`keyark.config`, :mod:`keyark.events` and
:mod:`keyark.errors`, and nothing else of keyark (``tests/unit/test_face_imports.py``).
"""

from keyark.context import Actor, OperationContext
from keyark.ops._backup import BackupOptions, backup
from keyark.ops._compat import Context
from keyark.ops._repository import change_passphrase, init_repository, open_repository
from keyark.ops._restore import RestoreOptions, restore
from keyark.ops._snapshots import (
    browse_loader,
    find_snapshot,
    require_trusted,
    snapshot_trust,
    snapshots,
)
from keyark.ops.catalogue import CATALOGUE, Operation, Result, operation
from keyark.ops.check import CheckOptions, CheckSummary, check

__all__ = [
    "CATALOGUE",
    "Actor",
    "BackupOptions",
    "CheckOptions",
    "CheckSummary",
    "Context",
    "Operation",
    "OperationContext",
    "RestoreOptions",
    "Result",
    "backup",
    "browse_loader",
    "change_passphrase",
    "check",
    "find_snapshot",
    "init_repository",
    "open_repository",
    "operation",
    "require_trusted",
    "restore",
    "snapshot_trust",
    "snapshots",
]
