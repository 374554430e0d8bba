"""Filtering the audit log and writing it as JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime

from keyark.audit.record import AuditRecord

#: CSV columns, in order (actor and target flattened; the target as JSON).
CSV_COLUMNS: tuple[str, ...] = (
    "time",
    "writer",
    "seq",
    "operation",
    "result",
    "error_code",
    "user",
    "uid",
    "host",
    "pid",
    "principal",
    "job",
    "target",
    "params_digest",
    "mac",
)


def matches(
    record: AuditRecord, *, since: datetime | None, actor: str | None, operation: str | None
) -> bool:
    """Whether ``record`` passes the filters (actor: user, host, principal or job)."""
    if operation is not None and record.operation != operation:
        return False
    if actor is not None:
        names = {str(record.actor.get(key)) for key in ("user", "host", "principal", "job")}
        if actor not in names:
            return False
    if since is not None:
        try:
            when = datetime.fromisoformat(record.time)
        except ValueError:
            return False
        reference = since if since.tzinfo is not None else since.astimezone()
        if when < reference:
            return False
    return True


def to_jsonl(records: Iterable[AuditRecord]) -> str:
    """One JSON object per line."""
    return "".join(json.dumps(record.to_dict(), sort_keys=True) + "\n" for record in records)


def to_csv(records: Iterable[AuditRecord]) -> str:
    """A header line and one row per record."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        actor = record.actor
        writer.writerow(
            [
                record.time,
                record.writer,
                record.seq,
                record.operation,
                record.result,
                record.error_code or "",
                actor.get("user", ""),
                actor.get("uid", ""),
                actor.get("host", ""),
                actor.get("pid", ""),
                actor.get("principal") or "",
                actor.get("job") or "",
                json.dumps(record.target, sort_keys=True),
                record.params_digest,
                record.mac,
            ]
        )
    return out.getvalue()


__all__ = ["CSV_COLUMNS", "matches", "to_csv", "to_jsonl"]
