"""The local copy of the audit log: JSON lines, one file per writer and repository.

Layout under the audit directory (0700; files 0600)::

    writer-id                    this machine's writer id (host name + random part)
    <repository id>/<writer>.jsonl   records, checkpoints and upload marks, in order
    <repository id>/<writer>.lock    taken while one process appends (flock)
    pending/<url digest>.jsonl   records made before the repository's keys were known
                                 (a wrong passphrase): chained at the next write there

A line is ``{"type": "record", "record": {...}}``, ``{"type": "checkpoint",
"checkpoint": {...}}`` or ``{"type": "uploaded", "kind": "record"|"checkpoint",
"seq": N}`` (the repository copy holds it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyark.audit.record import GENESIS, AuditRecord, Checkpoint
from keyark.cache_dir import private_directory
from keyark.errors import FormatError

WRITER_FILE = "writer-id"
PENDING = "pending"
_FILE_MODE = 0o600


def probe(root: Path) -> None:
    """Raise :class:`OSError` unless a file can be created in ``root`` (fail-closed check)."""
    private_directory(root)
    path = root / f".probe-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
    os.close(fd)
    path.unlink()


def writer_id(root: Path) -> str:
    """This machine's writer id (created once: ``<host>-<8 hex digits>``)."""
    path = root / WRITER_FILE
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        value = ""
    if re.fullmatch(r"[A-Za-z0-9.-]{1,80}-[0-9a-f]{8}", value):
        return value
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:64] or "host"
    value = f"{host}-{secrets.token_hex(4)}"
    private_directory(root)
    temporary = root / f".writer-{secrets.token_hex(4)}"
    _write_file(temporary, value + "\n")
    try:
        os.link(temporary, path)  # first writer wins; a concurrent one reads its id
    except FileExistsError:
        temporary.unlink()
        return writer_id(root)
    temporary.unlink()
    return value


def _write_synced(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` (0600, made if missing) opened with ``mode``, then fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | mode, _FILE_MODE)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, text: str) -> None:
    _write_synced(path, text, os.O_TRUNC)


def _append(path: Path, lines: list[dict[str, Any]]) -> None:
    if not lines:
        return
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    _write_synced(path, text, os.O_APPEND)


@dataclass
class WriterLog:
    """One writer's lines as read: records, checkpoints, what was uploaded, bad lines."""

    records: list[AuditRecord] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    uploaded: set[tuple[str, int]] = field(default_factory=set)
    #: (line number, what is wrong) of lines that do not parse.
    damaged: list[tuple[int, str]] = field(default_factory=list)

    @property
    def head(self) -> tuple[int, str]:
        """The newest sequence number and chain hash (0 and the genesis hash when empty)."""
        if not self.records:
            return 0, GENESIS
        last = self.records[-1]
        return last.seq, last.chain_hash()

    @property
    def last_checkpoint(self) -> int:
        """The sequence number the newest checkpoint covers (0: none)."""
        return max((point.seq for point in self.checkpoints), default=0)

    def lines(self) -> list[dict[str, Any]]:
        """The log as lines (to rewrite it whole)."""
        out: list[dict[str, Any]] = [
            {"type": "record", "record": record.to_dict()} for record in self.records
        ]
        out += [{"type": "checkpoint", "checkpoint": p.to_dict()} for p in self.checkpoints]
        out += [{"type": "uploaded", "kind": k, "seq": s} for k, s in sorted(self.uploaded)]
        return out


def parse_lines(text: str) -> WriterLog:
    """Parse a writer's log; bad lines are listed, not fatal (verify reports them)."""
    log = WriterLog()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "record":
                log.records.append(AuditRecord.from_dict(item["record"]))
            elif kind == "checkpoint":
                log.checkpoints.append(Checkpoint.from_dict(item["checkpoint"]))
            elif kind == "uploaded" and item.get("kind") in ("record", "checkpoint"):
                seq = item.get("seq")
                if not isinstance(seq, int):
                    raise FormatError("upload mark without a sequence number")
                log.uploaded.add((item["kind"], seq))
            else:
                raise FormatError("unknown line type")
        except (ValueError, KeyError, FormatError) as error:
            log.damaged.append((number, str(error)))
    return log


class LocalLog:
    """The local copy of one repository's log (every writer file of this machine)."""

    def __init__(self, root: Path, repo_id: str) -> None:
        self.root = root
        self.directory = root / repo_id

    def path(self, writer: str) -> Path:
        """The writer's JSON-lines file."""
        return self.directory / f"{writer}.jsonl"

    def writers(self) -> list[str]:
        """The writers with a file here."""
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob("*.jsonl"))

    def exists(self, writer: str) -> bool:
        """Whether the writer's file exists."""
        return self.path(writer).is_file()

    def read(self, writer: str) -> WriterLog:
        """The writer's log (empty when the file is missing)."""
        try:
            text = self.path(writer).read_text(encoding="utf-8")
        except FileNotFoundError:
            return WriterLog()
        return parse_lines(text)

    def append(self, writer: str, lines: list[dict[str, Any]]) -> None:
        """Append lines durably (the file is created 0600)."""
        private_directory(self.directory)
        _append(self.path(writer), lines)

    def rewrite(self, writer: str, log: WriterLog) -> None:
        """Replace the writer's file with ``log`` (restoring it from the repository copy)."""
        private_directory(self.directory)
        temporary = self.directory / f".{writer}.{secrets.token_hex(4)}"
        text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in log.lines())
        _write_file(temporary, text)
        os.replace(temporary, self.path(writer))

    @contextmanager
    def lock(self, writer: str) -> Iterator[None]:
        """Hold the writer's append lock (processes of one machine take turns)."""
        private_directory(self.directory)
        fd = os.open(
            self.directory / f"{writer}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def restore_writer(
    local: LocalLog,
    writer: str,
    records: dict[int, AuditRecord],
    checkpoints: dict[int, Checkpoint],
) -> WriterLog:
    """Rewrite a writer's local file from the repository copy (every entry marked stored)."""
    log = WriterLog(
        records=[records[seq] for seq in sorted(records)],
        checkpoints=[checkpoints[seq] for seq in sorted(checkpoints)],
    )
    log.uploaded = {("record", seq) for seq in records} | {
        ("checkpoint", seq) for seq in checkpoints
    }
    local.rewrite(writer, log)
    return log


def _pending_path(root: Path, url: str) -> Path:
    return root / PENDING / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".jsonl")


def add_pending(root: Path, url: str, draft: dict[str, Any]) -> None:
    """Keep a record made without the repository's keys until the next write there."""
    private_directory(root / PENDING)
    _append(_pending_path(root, url), [draft])


@contextmanager
def pending(root: Path, url: str | None) -> Iterator[list[dict[str, Any]]]:
    """The drafts waiting for ``url``; they are removed when the block ends without error."""
    if url is None:
        yield []
        return
    path = _pending_path(root, url)
    drafts: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        yield []
        return
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            drafts.append(item)
    yield drafts
    path.unlink(missing_ok=True)


__all__ = [
    "LocalLog",
    "WriterLog",
    "add_pending",
    "parse_lines",
    "pending",
    "probe",
    "restore_writer",
    "writer_id",
]
