"""Appending to the audit log: chain, MAC, local line, repository object, checkpoint.

:func:`write` appends one record (and any records made earlier without the keys, see
:mod:`keyark.audit.local`) to this machine's chain for each repository the operation
opened: under the writer's lock of that repository it reads the chain head, seals
the new records (and a checkpoint every ``checkpoint_every`` records) and appends
them to the local file (the record counts as written from here); then, with the lock
released, it stores every not yet uploaded record and checkpoint in the repository.
A local log found missing while the repository holds this writer's records is
restored from there first (and reported). The lock is per repository: operations on
different repositories never wait for each other, and operations on one wait only
for each other's local append, not for storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keyark.audit.keys import AuditKeys
from keyark.audit.local import (
    LocalLog,
    WriterLog,
    add_pending,
    pending,
    restore_writer,
    writer_id,
)
from keyark.audit.policy import AuditPolicy
from keyark.audit.record import GENESIS, AuditRecord, Checkpoint
from keyark.audit.remote import RemoteLog
from keyark.audit.target import AuditTarget
from keyark.errors import FormatError, KeyarkError


def now() -> str:
    """The current time as recorded (UTC, ISO 8601 with microseconds)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class WriteReport:
    """What happened besides the local write: repository copies missed, logs restored."""

    #: (repository id, reason) for each repository copy that could not be written.
    upload_failures: list[tuple[str, str]] = field(default_factory=list)
    #: (repository id, records) for each local log restored from the repository copy.
    restored: list[tuple[str, int]] = field(default_factory=list)


def write(
    policy: AuditPolicy, draft: dict[str, Any] | None, targets: list[AuditTarget], url: str | None
) -> WriteReport:
    """Append ``draft`` to the log of each target (pending for ``url`` when there is none).

    With ``draft`` None only the records pending for ``url`` are chained (before the log
    is read, so a failed unlock shows at once).

    An :class:`OSError` of the local copy propagates (the record is not written);
    a failure of the repository copy is reported and retried on the next write.
    """
    root = policy.root()
    report = WriteReport()
    if not targets:
        # Held for the repository the operation named, chained at its next keyed write.
        # An operation of no repository (a config file's job or channel test: its own
        # steps are recorded where they ran) leaves no record of its own.
        if draft is not None and url:
            add_pending(root, url, draft)
        return report
    new = [] if draft is None else [draft]
    # One record per repository, however often the operation opened it (erase: twice).
    unique = list({target.repo_id: target for target in targets}.values())
    for index, target in enumerate(unique):
        with pending(root, url if index == 0 else None) as earlier:
            if earlier or new:
                local = LocalLog(root, target.repo_id)
                _write_one(policy, local, writer_id(root), target, [*earlier, *new], report)
    return report


def _write_one(
    policy: AuditPolicy,
    local: LocalLog,
    writer: str,
    target: AuditTarget,
    drafts: list[dict[str, Any]],
    report: WriteReport,
) -> None:
    """Chain ``drafts`` under the writer's lock of this repository, then upload.

    The lock (one per repository and writer, :meth:`LocalLog.lock`) covers only what
    orders the chain: reading its head, restoring a missing local file, sealing and
    appending. Opening the repository's storage and uploading happen outside it, so
    concurrent operations on one repository do not wait for each other's network
    round trips (an upload raced by another process's upload of the same record
    stores the same content, which is accepted; a record is marked uploaded only
    after it is stored).
    """
    keys = target.keys
    backend = None
    copy: _RepositoryCopy | None = None
    try:
        backend = target.open_backend()
        copy = _RepositoryCopy(local, writer, RemoteLog(backend, keys), report, target.repo_id)
    except (KeyarkError, OSError) as error:
        report.upload_failures.append((target.repo_id, str(error)))
    try:
        with local.lock(writer):
            log = local.read(writer)
            if copy is not None and not log.records and not local.exists(writer):
                try:
                    log = copy.restore(log)
                except (KeyarkError, OSError) as error:
                    report.upload_failures.append((target.repo_id, str(error)))
                    copy = None
            local.append(writer, _chain(policy, keys, writer, target.repo_id, log, drafts))
        if copy is not None:
            copy.upload(log)
    finally:
        if backend is not None:
            backend.close()


def _chain(
    policy: AuditPolicy,
    keys: AuditKeys,
    writer: str,
    repo_id: str,
    log: WriterLog,
    drafts: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Seal ``drafts`` onto ``log``'s chain (and a checkpoint when due); the new lines."""
    seq, head = log.head
    lines: list[dict[str, Any]] = []
    for draft in map(_adopted(repo_id), drafts):
        if draft is None:
            continue  # a damaged pending line (the state directory is untrusted)
        seq += 1
        record = keys.seal(AuditRecord(writer=writer, seq=seq, prev=head, **draft))
        head = record.chain_hash()
        log.records.append(record)
        lines.append({"type": "record", "record": record.to_dict()})
    if seq - log.last_checkpoint >= policy.checkpoint_every:
        point = keys.sign(Checkpoint(writer, seq, head, now()))
        log.checkpoints.append(point)
        lines.append({"type": "checkpoint", "checkpoint": point.to_dict()})
    return lines


def _adopted(repo_id: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """A draft checked field by field, naming ``repo_id`` when it named no repository."""

    def adopt(draft: dict[str, Any]) -> dict[str, Any] | None:
        fields = {"writer": "w", "seq": 1, "prev": GENESIS, "mac": "", **draft}
        try:
            AuditRecord.from_dict(fields)
        except FormatError:
            return None
        target = dict(draft["target"])
        target["repositories"] = target.get("repositories") or [repo_id]
        return {**draft, "target": target}

    return adopt


@dataclass(frozen=True)
class _RepositoryCopy:
    """The repository copy of one writer's chain, beside its local file; what befalls
    it goes to ``report`` under ``repo_id``."""

    local: LocalLog
    writer: str
    remote: RemoteLog
    report: WriteReport
    repo_id: str

    def restore(self, log: WriterLog) -> WriterLog:
        """Rebuild a missing local log (``log``, empty) from the repository copy."""
        scan = self.remote.scan(self.writer)
        records = scan.records.get(self.writer, {})
        if not records:
            return log
        checkpoints = scan.checkpoints.get(self.writer, {})
        restored = restore_writer(self.local, self.writer, records, checkpoints)
        self.report.restored.append((self.repo_id, len(restored.records)))
        return restored

    def upload(self, log: WriterLog) -> None:
        """Store every record and checkpoint the copy lacks; mark each stored."""
        marks: list[dict[str, Any]] = []
        try:
            for record in log.records:
                if ("record", record.seq) not in log.uploaded:
                    self.remote.put_record(record)
                    marks.append({"type": "uploaded", "kind": "record", "seq": record.seq})
            for point in log.checkpoints:
                if ("checkpoint", point.seq) not in log.uploaded:
                    self.remote.put_checkpoint(point)
                    marks.append({"type": "uploaded", "kind": "checkpoint", "seq": point.seq})
        except KeyarkError as error:
            self.report.upload_failures.append((self.repo_id, str(error)))
        finally:
            self.local.append(self.writer, marks)


__all__ = ["WriteReport", "now", "write"]
