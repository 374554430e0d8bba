"""``dump``: write a file of a snapshot (or a directory, as a tar stream) to a stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from keyark.catalog.snapshots import find_snapshot, require_trusted
from keyark.context import OperationContext
from keyark.events import Code
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.snapshot_trust import is_agent_snapshot
from keyark.restorer.dump import dump as run_dump


@dataclass
class DumpOptions:
    """Which snapshot and path, and the stream the content is written to."""

    snapshot: str
    path: str
    #: Where the file content or tar stream goes (the face's stdout, a response body).
    output: BinaryIO = field(repr=False)
    #: Dump a flagged snapshot (unsigned, foreign host, ...): normally refused.
    allow_unsigned: bool = False


@dataclass
class DumpResult:
    """What was written: one file's content, or a tar stream of a directory."""

    snapshot_id: str
    path: str
    #: ``file`` or ``tar``.
    format: str

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "path": self.path, "format": self.format}


@operation("dump", options=DumpOptions, result=DumpResult, mutates=False, reads_secrets=True)
def dump(ctx: OperationContext, options: DumpOptions) -> DumpResult:
    """Write a file of a snapshot, or a directory as a tar stream, to a stream.

    ``latest`` skips flagged snapshots; a flagged one named by id needs
    ``allow_unsigned``. An agent's snapshot is dumped without setuid/setgid bits.
    """
    with opened(ctx) as repo:
        chosen = find_snapshot(repo, options.snapshot, ctx)
        trust = require_trusted(repo, chosen, options.allow_unsigned, "dump")
        agent = is_agent_snapshot(chosen)
        if agent:
            who = chosen.extra.get("agent")
            ctx.events.warn(
                Code.SNAPSHOT_AGENT,
                f"dumping snapshot {chosen.short_id} (agent {who}, {trust})",
                subject=chosen.id,
            )
        whole_file = run_dump(
            repo, chosen, options.path, options.output, ctx, drop_privileges=agent
        )
        options.output.flush()
    return DumpResult(chosen.id, options.path, "file" if whole_file else "tar")


__all__ = ["DumpOptions", "DumpResult", "dump"]
