"""``restore``: restore a snapshot (or a directory of it) into a target directory."""

from __future__ import annotations

from keyark.catalog.snapshots import find_snapshot
from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import parse_time as parse_time
from keyark.restorer.run import RestoreOptions as RestoreOptions
from keyark.restorer.run import check_restore_options
from keyark.restorer.run import restore as run_restore
from keyark.results import RestoreSummary as RestoreSummary


@operation(
    "restore",
    options=RestoreOptions,
    result=RestoreSummary,
    mutates=False,
    reads_secrets=True,
)
def restore(ctx: OperationContext, options: RestoreOptions) -> RestoreSummary:
    """Restore a snapshot into a target directory.

    A partial restore raises :class:`~keyark.errors.RestoreError` with the summary
    as ``error.summary`` (everything restorable was restored).
    """
    check_restore_options(options)  # before the repository is opened
    with opened(ctx) as repo:
        chosen = find_snapshot(repo, options.snapshot, ctx, options.selection, options.at)
        return run_restore(repo, chosen, options, ctx)
