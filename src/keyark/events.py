"""Typed events: what every operation reports while it runs.

Every operation of :mod:`keyark.ops` reports through one :class:`Events` emitter
(``OperationContext.events``): it started, how far it is (:class:`Progress`), what
it passed over (:class:`OperationWarning`, with a stable :class:`Code`), backend
retries, lock waits, and that it finished or failed. The faces render the same
stream (the CLI's progress bars and warning lines, ``--json`` event lines); the
listeners (metrics, notifications, the audit log, the dashboard) subscribe to it
through an :class:`EventBus`. Nothing in an event is secret: messages pass the
redaction filter of :mod:`keyark.redaction` before they are emitted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import ClassVar

from keyark.redaction import redact

log = logging.getLogger(__name__)


class Code(StrEnum):
    """Stable codes of warnings (and of the problems they describe)."""

    #: A source file or directory could not be read; the snapshot lacks it.
    SOURCE_UNREADABLE = "source.unreadable"
    #: A source entry was skipped on purpose (socket, unsupported type, excluded device).
    SOURCE_SKIPPED = "source.skipped"
    #: A file changed while it was read.
    SOURCE_CHANGED = "source.changed"
    #: A stale lock was found or removed.
    LOCK_STALE = "lock.stale"
    #: An index file failed to authenticate or parse and was passed over.
    INDEX_DAMAGED = "index.damaged"
    #: An index file is not trusted (written by an agent) and was checked first.
    INDEX_UNTRUSTED = "index.untrusted"
    #: A snapshot failed to authenticate or parse and was passed over.
    SNAPSHOT_DAMAGED = "snapshot.damaged"
    #: A snapshot is not signed by a registered agent or full key.
    SNAPSHOT_UNTRUSTED = "snapshot.untrusted"
    #: A snapshot a write-only agent wrote is used (its privileges are dropped).
    SNAPSHOT_AGENT = "snapshot.agent"
    #: A pack is damaged; what it held is reported per snapshot and file.
    PACK_DAMAGED = "pack.damaged"
    #: An interrupted write left a temporary object in storage.
    TEMPORARY_LEFT = "storage.temporary"
    #: Storage refused a delete (Object Lock retention, permissions).
    DELETE_REFUSED = "storage.delete_refused"
    #: A delete failed transiently; the object stays until a later prune removes it.
    DELETE_DEFERRED = "storage.delete_deferred"
    #: Storage is full; the operation went on read-only or stopped.
    STORAGE_FULL = "storage.full"
    #: The data key is due for rotation.
    ROTATION_DUE = "key.rotation_due"
    #: A key-state copy (``config.bak``, ``keyring.bak``) differs from the original.
    STATE_COPY = "state.copy"
    #: A restore could not write or verify an entry.
    RESTORE_ENTRY = "restore.entry"
    #: A restore failed, was interrupted or did not verify, and the target was rolled
    #: back to its restore point (or the rollback itself could not finish).
    RESTORE_ROLLED_BACK = "restore.rolled_back"
    #: The catalog (local cache) was rebuilt or is in memory only.
    CATALOG = "catalog"
    #: Anything else worth telling the user.
    GENERAL = "general"
    #: A glob of a backup's file list matched no file (the line was skipped).
    SOURCE_UNMATCHED = "source.unmatched"
    #: A metric's source (a repository, the alert store) could not be read; its series
    #: are left out of the exposition.
    METRICS_UNAVAILABLE = "metrics.unavailable"
    #: The key and certificate inventory of a file or snapshot could not be made or read.
    INVENTORY = "inventory"
    #: An audit record could not be written (the operation ran; audit.required is off).
    AUDIT_UNWRITTEN = "audit.unwritten"
    #: The repository copy of the audit log could not be written (retried next time).
    AUDIT_UPLOAD = "audit.upload"
    #: The local audit log was missing and was restored from the repository copy.
    AUDIT_RESTORED = "audit.restored"
    #: A file or directory of a mount could not be read (a damaged blob, storage failing).
    MOUNT_READ = "mount.read"
    #: An export's signature was not checked against a pinned public key.
    EXPORT_UNPINNED = "export.unpinned"
    #: An encrypted export's members were not checked (no identity to decrypt them).
    EXPORT_UNCHECKED = "export.unchecked"
    #: An imported archive had no checksum file beside it (nothing to check it against).
    IMPORT_UNCHECKED = "import.unchecked"
    #: An enrolled agent could not reach its server (config not pulled, run not reported).
    FLEET_UNREACHABLE = "fleet.unreachable"
    #: An enrolled agent's server refused its report or config pull (bad report, revoked
    #: token, another certificate); the run itself is not affected.
    FLEET_REFUSED = "fleet.refused"
    #: An enrolled agent's outbox of unsent reports was full: its oldest were dropped.
    FLEET_OUTBOX_FULL = "fleet.outbox_full"


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: which operation, and when (Unix time)."""

    kind: ClassVar[str] = "event"
    operation: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, object]:
        """The event as JSON-ready data (``{"event": kind, ...}``)."""
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Started(Event):
    """The operation began; ``options`` are its (secret-free) options."""

    kind: ClassVar[str] = "started"
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    """How far the operation is. Totals are None until known."""

    kind: ClassVar[str] = "progress"
    #: What is being done (``scan``, ``upload``, ``read``, ``verify``, ``delete`` ...).
    phase: str = ""
    files_done: int = 0
    files_total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    #: The item being worked on (a path, a pack id), when there is one.
    current: str | None = None

    @property
    def fraction(self) -> float | None:
        """Done / total (bytes when known, else files), or None without a total."""
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.files_total:
            return min(1.0, self.files_done / self.files_total)
        return None


@dataclass(frozen=True, kw_only=True)
class OperationWarning(Event):
    """Something was passed over or is worth attention; the operation goes on."""

    kind: ClassVar[str] = "warning"
    code: str
    message: str
    #: The object the warning is about (a path, an object name), when there is one.
    subject: str | None = None


@dataclass(frozen=True, kw_only=True)
class Retry(Event):
    """A backend call failed transiently and is retried after ``delay`` seconds."""

    kind: ClassVar[str] = "retry"
    attempt: int
    delay: float
    error: str


@dataclass(frozen=True, kw_only=True)
class LockWait(Event):
    """Another process holds a conflicting lock; the operation waits and retries."""

    kind: ClassVar[str] = "lock_wait"
    holder: str
    waited: float
    limit: float


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    """The operation completed; ``result`` is its result's ``to_dict()``."""

    kind: ClassVar[str] = "finished"
    result: dict[str, object] = field(default_factory=dict)
    duration: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Failed(Event):
    """The operation stopped with an error (``code`` and ``hint`` are machine-readable)."""

    kind: ClassVar[str] = "failed"
    code: str
    message: str
    hint: str | None = None
    duration: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ItemDone(Event):
    """One file or directory was handled (only for operations asked to report items).

    ``action`` uses restic's words. Backup: ``new``, ``modified``, ``unchanged``; a
    directory's ``item`` ends in ``/``; the sizes are those of the content (``data_*``)
    or the tree (``metadata_*``) the item added, plain and as stored. Restore:
    ``restored``, ``updated`` (an entry of that name existed), ``unchanged`` (kept by
    the overwrite policy), ``deleted`` (not in the snapshot); ``data_size`` is the
    file's size.
    """

    kind: ClassVar[str] = "item"
    action: str
    item: str
    data_size: int = 0
    data_size_in_repo: int = 0
    metadata_size: int = 0
    metadata_size_in_repo: int = 0
    duration: float = 0.0


EventSink = Callable[[Event], None]


class EventBus:
    """Fans events out to subscribers; a failing subscriber never fails the operation."""

    def __init__(self) -> None:
        self._listeners: list[EventSink] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: EventSink) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it again."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def __call__(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not fail a backup
                log.exception("event listener %r failed on %s", listener, event.kind)


def _discard(event: Event) -> None:
    """The sink of an operation nobody listens to."""


class Events:
    """The emitter an operation reports through (thread-safe; progress is rate-limited).

    ``Events("check", sink)`` binds the operation name; :meth:`child` gives a
    sub-operation (the rotation a backup runs first) its own name on the same sink.
    """

    def __init__(
        self,
        operation: str = "",
        sink: EventSink | None = None,
        *,
        interval: float = 0.1,
        results: bool = True,
    ) -> None:
        self.operation = operation
        self.sink: EventSink = sink or _discard
        self.interval = interval
        #: Whether the sink reads the results ``finished`` events carry. A face whose
        #: sink never does (the CLI's text output) says so, and the catalogue then
        #: leaves them out unless the audit log records them: ``ls`` of a million
        #: entries builds no million dictionaries for nobody.
        self.results = results
        self._last_progress = 0.0
        self._lock = threading.Lock()
        #: Warnings emitted so far (the results of some operations list them).
        self.warnings: list[OperationWarning] = []

    def child(self, operation: str) -> Events:
        """An emitter for a sub-operation on the same sink."""
        return Events(operation, self.sink, interval=self.interval, results=self.results)

    def emit(self, event: Event) -> None:
        self.sink(event)

    def started(self, options: dict[str, object] | None = None) -> None:
        self.emit(Started(operation=self.operation, options=options or {}))

    def warn(self, code: Code | str, message: str, *, subject: str | None = None) -> None:
        """Report something passed over; ``message`` is one line (redacted here)."""
        event = OperationWarning(
            operation=self.operation,
            code=str(code),
            message=redact(message),
            subject=None if subject is None else redact(subject),
        )
        with self._lock:
            self.warnings.append(event)
        self.emit(event)

    def warner(self, code: Code | str) -> Callable[[str], None]:
        """``warn`` with a fixed code, for code that reports one kind of warning."""

        def warn(message: str) -> None:
            self.warn(code, message)

        return warn

    def progress(
        self,
        phase: str,
        *,
        files_done: int = 0,
        files_total: int | None = None,
        bytes_done: int = 0,
        bytes_total: int | None = None,
        current: str | None = None,
        final: bool = False,
    ) -> None:
        """Report progress; at most one event every ``interval`` seconds unless ``final``."""
        now = time.monotonic()
        with self._lock:
            if not final and now - self._last_progress < self.interval:
                return
            self._last_progress = now
        self.emit(
            Progress(
                operation=self.operation,
                phase=phase,
                files_done=files_done,
                files_total=files_total,
                bytes_done=bytes_done,
                bytes_total=bytes_total,
                current=current,
            )
        )

    def retry(self, attempt: int, delay: float, error: str) -> None:
        self.emit(
            Retry(operation=self.operation, attempt=attempt, delay=delay, error=redact(error))
        )

    def lock_wait(self, holder: str, waited: float, limit: float) -> None:
        self.emit(LockWait(operation=self.operation, holder=holder, waited=waited, limit=limit))

    def finished(self, result: dict[str, object], duration: float) -> None:
        self.emit(Finished(operation=self.operation, result=result, duration=duration))

    def failed(self, code: str, message: str, hint: str | None, duration: float) -> None:
        self.emit(
            Failed(
                operation=self.operation,
                code=code,
                message=redact(message),
                hint=hint,
                duration=duration,
            )
        )


@contextmanager
def collecting() -> Iterator[tuple[Events, list[Event]]]:
    """An emitter that keeps every event in a list (tests, the Python API)."""
    seen: list[Event] = []
    yield Events("", seen.append), seen


__all__ = [
    "Code",
    "Event",
    "EventBus",
    "EventSink",
    "Events",
    "Failed",
    "Finished",
    "ItemDone",
    "LockWait",
    "OperationWarning",
    "Progress",
    "Retry",
    "Started",
    "collecting",
]
