"""``dump``: write a file of a snapshot, or a directory as a tar or zip archive."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from keyark.catalog.snapshots import find_snapshot, require_trusted
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.events import Code
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot import SnapshotFilter
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.restorer.archives import ARCHIVE_FORMATS as ARCHIVE_FORMATS
from keyark.restorer.dump import dump as run_dump
from keyark.restorer.dump_target import TargetFile


@dataclass
class DumpOptions:
    """Which snapshot and path, the archive format, and where the output goes."""

    snapshot: str
    path: str
    #: Where the file content or archive goes (the face's stdout, a response body).
    #: A terminal is refused for an archive or a binary file.
    output: BinaryIO | None = field(default=None, repr=False)
    #: Dump a flagged snapshot (unsigned, foreign host, ...): normally refused.
    allow_unsigned: bool = False
    #: How a directory is written: ``tar`` or ``zip`` (a file is always written as is).
    archive: str = "tar"
    #: Write to this file instead of ``output`` (replaced once complete; at most 0600).
    target: str | None = None
    #: Which snapshots ``latest`` chooses among (host, tags, paths).
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    #: The snapshot directory ``path`` and the archive's names are relative to.
    base: str = "/"


@dataclass
class DumpResult:
    """What was written: one file's content, or an archive of a directory."""

    snapshot_id: str
    path: str
    #: ``file``, ``tar`` or ``zip``.
    format: str
    #: The file written (None when the output was a stream).
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@operation("dump", options=DumpOptions, result=DumpResult, mutates=False, reads_secrets=True)
def dump(ctx: OperationContext, options: DumpOptions) -> DumpResult:
    """Write a file of a snapshot, or a directory as a tar or zip archive, to a stream or file.

    ``latest`` picks the newest trusted snapshot the selection matches; a flagged one
    named by id needs ``allow_unsigned``. An agent's snapshot is dumped without
    setuid/setgid bits.
    """
    if options.target is not None and options.output is not None:
        raise UsageError("give an output stream or a target file for the dump, not both")
    sink: TargetFile | None = None
    if options.target is not None:
        sink = TargetFile(options.target)
        out = sink.stream
    elif options.output is not None:
        out = options.output
    else:
        raise UsageError("give an output stream or a target file for the dump")
    try:
        with opened(ctx) as repo:
            chosen = find_snapshot(repo, options.snapshot, ctx, options.selection)
            trust = require_trusted(repo, chosen, options.allow_unsigned, "dump")
            agent = is_agent_snapshot(chosen)
            if agent:
                who = chosen.extra.get("agent")
                ctx.events.warn(
                    Code.SNAPSHOT_AGENT,
                    f"dumping snapshot {chosen.short_id} (agent {who}, {trust})",
                    subject=chosen.id,
                )
            dumped = run_dump(
                repo,
                chosen,
                options.path,
                out,
                ctx,
                drop_privileges=agent,
                archive=options.archive,
                base=options.base,
            )
        if sink is not None:
            sink.commit(dumped.file_mode)
        else:
            out.flush()
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    return DumpResult(chosen.id, options.path, dumped.format, options.target)
