"""``backup``: back up files and directories into the repository."""

from __future__ import annotations

from keyark.archiver.backup import BackupOptions as BackupOptions
from keyark.archiver.backup import backup as run_backup
from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.ops.session import open_for_backup
from keyark.results import BackupSummary as BackupSummary


@operation("backup", options=BackupOptions, result=BackupSummary, mutates=True)
def backup(ctx: OperationContext, options: BackupOptions) -> BackupSummary:
    """Back up files and directories into the repository."""
    repo = open_for_backup(ctx)  # a write-only agent credential may back up
    try:
        return run_backup(repo, options, ctx)
    finally:
        repo.close()
