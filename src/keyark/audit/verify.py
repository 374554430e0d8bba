"""Checking the audit log: both copies, every chain, every MAC, every checkpoint.

For each writer the repository copy and (for this machine's writers) the local copy
are compared record by record, then the merged chain is walked from sequence 1:

- a record whose MAC fails was edited (or forged: inserted without the key);
- a missing sequence number, or one copy lacking a record the other has (and the
  local log marks as stored in the repository), is a deleted record;
- a record whose ``prev`` is not the hash of the one before was reordered or
  inserted; local lines out of sequence order were reordered;
- a signed checkpoint beyond the newest record shows the tail was truncated.

Records after a writer's newest checkpoint are *unanchored*: deleting them from both
copies cannot be told from their never having been written (the loss bound).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from keyark.audit.keys import AuditKeys
from keyark.audit.local import LocalLog, WriterLog, restore_writer
from keyark.audit.record import GENESIS, AuditRecord, Checkpoint
from keyark.audit.remote import RemoteScan


@dataclass(frozen=True)
class Finding:
    """One problem: the record (``writer/seq``), its kind and what is wrong."""

    record: str
    kind: str
    message: str
    #: For ordering: (writer, seq).
    order: tuple[str, int] = ("", 0)


@dataclass
class Outcome:
    """What verifying found, and every authentic record (for reading the log)."""

    records: list[AuditRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    writers: int = 0
    checkpoints: int = 0
    unanchored: int = 0
    restored: int = 0


def check(
    keys: AuditKeys,
    scan: RemoteScan,
    local: LocalLog,
    this_writer: str | None,
    *,
    restore: bool = False,
) -> Outcome:
    """Verify every writer's chain in both copies (restore a lost local log if asked)."""
    outcome = Outcome()
    for writer, seq, message in scan.damaged:
        outcome.findings.append(
            Finding(f"{writer}/{seq}", "edited", f"repository copy: {message}", (writer, seq))
        )
    writers = sorted(set(scan.records) | set(scan.checkpoints) | set(local.writers()))
    for writer in writers:
        remote = scan.records.get(writer, {})
        if local.exists(writer):
            log: WriterLog | None = local.read(writer)
        elif writer == this_writer and remote:
            outcome.findings.append(
                Finding(
                    f"{writer}/1",
                    "local_deleted",
                    f"the local log of this machine's writer is missing ({len(remote)} records "
                    "are in the repository copy)",
                    (writer, 0),
                )
            )
            log = None
            if restore:
                restore_writer(local, writer, remote, scan.checkpoints.get(writer, {}))
                outcome.restored += len(remote)
        else:
            log = None
        _check_writer(keys, writer, remote, scan.checkpoints.get(writer, {}), log, outcome)
    outcome.writers = len(writers)
    outcome.findings.sort(key=lambda finding: finding.order)
    outcome.records.sort(key=lambda record: (record.time, record.writer, record.seq))
    return outcome


def _check_writer(
    keys: AuditKeys,
    writer: str,
    remote: dict[int, AuditRecord],
    remote_points: dict[int, Checkpoint],
    log: WriterLog | None,
    outcome: Outcome,
) -> None:
    found = outcome.findings

    def problem(seq: int, kind: str, message: str) -> None:
        found.append(Finding(f"{writer}/{seq}", kind, message, (writer, seq)))

    merged: dict[int, AuditRecord] = dict(remote)
    points: dict[int, Checkpoint] = dict(remote_points)
    if log is not None:
        for number, reason in log.damaged:
            problem(0, "edited", f"local log line {number} is damaged ({reason})")
        seen: set[int] = set()
        previous = 0
        for record in log.records:
            if record.writer != writer:
                problem(record.seq, "inserted", "the local log holds another writer's record")
                continue
            if record.seq in seen:
                problem(record.seq, "inserted", "the local log holds this record twice")
                continue
            if record.seq < previous:
                problem(record.seq, "reordered", "the local log lists this record out of order")
            seen.add(record.seq)
            previous = max(previous, record.seq)
            stored = remote.get(record.seq)
            if stored is None:
                if ("record", record.seq) in log.uploaded:
                    problem(record.seq, "deleted", "the record is missing from the repository copy")
                merged[record.seq] = record
            elif stored != record:
                bad_local = not keys.authentic(record)
                where = "local log" if bad_local else "repository copy"
                problem(record.seq, "edited", f"the two copies differ; the {where} was changed")
                merged[record.seq] = stored if bad_local else record
        for seq in sorted(set(remote) - seen):
            problem(seq, "deleted", "the record is missing from the local log")
        for point in log.checkpoints:
            points.setdefault(point.seq, point)
    _walk_chain(keys, writer, merged, points, outcome, problem)


def _walk_chain(
    keys: AuditKeys,
    writer: str,
    merged: dict[int, AuditRecord],
    points: dict[int, Checkpoint],
    outcome: Outcome,
    report: Callable[[int, str, str], None],
) -> None:
    newest = max(merged, default=0)
    head = GENESIS
    for seq in range(1, newest + 1):
        record = merged.get(seq)
        if record is None:
            report(seq, "deleted", "the record is missing from both copies")
            head = ""  # unknown: the next record's link cannot be checked
            continue
        if not keys.authentic(record):
            report(seq, "edited", "the record fails its MAC (edited, or forged without the key)")
        elif head and record.prev != head:
            report(
                seq,
                "reordered",
                "the record does not follow its predecessor (reordered or inserted)",
            )
        else:
            outcome.records.append(record)
        head = record.chain_hash()
    anchored = 0
    for seq, point in sorted(points.items()):
        outcome.checkpoints += 1
        if not keys.signed(point):
            report(seq, "forged_checkpoint", "the checkpoint's signature does not verify")
            continue
        anchored = max(anchored, seq)
        record = merged.get(seq)
        if record is None and seq > newest:
            report(
                newest + 1,
                "truncated",
                f"records {newest + 1}..{seq} are covered by a signed checkpoint but missing",
            )
        elif record is not None and record.chain_hash() != point.head:
            report(seq, "edited", "the record does not match its signed checkpoint")
    outcome.unanchored += max(0, newest - anchored)


__all__ = ["Finding", "Outcome", "check"]
