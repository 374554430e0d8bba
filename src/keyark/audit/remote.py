"""The repository copy of the audit log: sealed, write-once objects under ``audit/``.

Names: ``audit/<writer>/r/<seq>`` (a record) and ``audit/<writer>/c/<seq>`` (a signed
checkpoint), ``seq`` zero-padded to 12 digits. Each object is the record's canonical
JSON sealed under the audit sealing key with the object's name as associated data,
so an object edited, renamed or moved fails to open. Objects are never replaced (a
second write of other content is refused) and carry Object Lock where the repository
has it; forget and prune never list ``audit/``, so they never remove them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from keyark.audit.keys import AuditKeys
from keyark.audit.record import AuditRecord, Checkpoint, canonical
from keyark.backends.base import Backend
from keyark.crypto.envelope import ObjectKind
from keyark.errors import AlreadyExistsError, FormatError, IntegrityError

PREFIX = "audit/"
#: The envelope kind of audit objects. Their key is used for nothing else, so the
#: kind adds no separation; the name (``audit/...``) is bound as associated data.
KIND = ObjectKind.AUDIT


def record_name(writer: str, seq: int) -> str:
    """The object name of a writer's record ``seq``."""
    return f"{PREFIX}{writer}/r/{seq:012d}"


def checkpoint_name(writer: str, seq: int) -> str:
    """The object name of the checkpoint covering a writer's records up to ``seq``."""
    return f"{PREFIX}{writer}/c/{seq:012d}"


def parse_name(name: str) -> tuple[str, str, int] | None:
    """(writer, ``r`` or ``c``, seq) of an audit object name; None if it is not one."""
    parts = name[len(PREFIX) :].split("/")
    if not name.startswith(PREFIX) or len(parts) != 3 or parts[1] not in ("r", "c"):
        return None
    if not parts[2].isdigit() or len(parts[2]) != 12:
        return None
    return parts[0], parts[1], int(parts[2])


@dataclass
class RemoteScan:
    """Every audit object read: records and checkpoints by writer and seq, and bad objects."""

    records: dict[str, dict[int, AuditRecord]] = field(default_factory=lambda: defaultdict(dict))
    checkpoints: dict[str, dict[int, Checkpoint]] = field(default_factory=lambda: defaultdict(dict))
    #: (writer, seq, what is wrong) of objects that fail to open or parse.
    damaged: list[tuple[str, int, str]] = field(default_factory=list)


class RemoteLog:
    """Writes and reads the audit objects of one repository."""

    def __init__(self, backend: Backend, keys: AuditKeys) -> None:
        self._backend = backend
        self._sealer = keys.sealer()

    def _put(self, name: str, document: dict[str, object]) -> None:
        plaintext = canonical(document)
        try:
            self._backend.put(name, self._sealer.seal(KIND, name.encode(), plaintext))
        except AlreadyExistsError:
            # Written before (a retry after a lost upload mark): the same content is fine.
            if self._open(name) != plaintext:
                raise

    def _open(self, name: str) -> bytes:
        return self._sealer.open(KIND, name.encode(), self._backend.get(name))

    def put_record(self, record: AuditRecord) -> None:
        """Store a record (write-once)."""
        self._put(record_name(record.writer, record.seq), record.to_dict())

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a checkpoint (write-once)."""
        self._put(checkpoint_name(checkpoint.writer, checkpoint.seq), checkpoint.to_dict())

    def scan(self, writer: str | None = None) -> RemoteScan:
        """Read every audit object (of ``writer`` only, when given)."""
        scan = RemoteScan()
        prefix = PREFIX if writer is None else f"{PREFIX}{writer}/"
        for info in sorted(self._backend.list(prefix), key=lambda item: item.name):
            parsed = parse_name(info.name)
            if parsed is None:
                scan.damaged.append((info.name, 0, "not an audit object name"))
                continue
            owner, kind, seq = parsed
            try:
                document = json.loads(self._open(info.name))
                if kind == "r":
                    record = AuditRecord.from_dict(document)
                    if (record.writer, record.seq) != (owner, seq):
                        raise FormatError("names another record than its object name")
                    scan.records[owner][seq] = record
                else:
                    point = Checkpoint.from_dict(document)
                    if (point.writer, point.seq) != (owner, seq):
                        raise FormatError("names another checkpoint than its object name")
                    scan.checkpoints[owner][seq] = point
            except (IntegrityError, ValueError) as error:
                what = "record" if kind == "r" else "checkpoint"
                scan.damaged.append((owner, seq, f"{what} object: {error}"))
        return scan


__all__ = [
    "PREFIX",
    "RemoteLog",
    "RemoteScan",
    "checkpoint_name",
    "parse_name",
    "record_name",
]
