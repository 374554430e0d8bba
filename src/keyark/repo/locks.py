"""Repository locks: shared (backup) and exclusive (prune, rotate, repair).

A lock is a small sealed object ``locks/<random>`` naming host, pid, user,
operation, creation time and expiry. It is sealed with a key derived from the
id key, so write-only agents can take and read locks too. A held lock is
refreshed in the background (a new object, then the old one deleted). A lock is
stale when it has expired, or when it names this host and a process that no
longer exists.

Expiry: a lock object is valid for :data:`EXPIRY_SECONDS` (10 minutes; restic uses
30) after it was written and is refreshed every :data:`REFRESH_SECONDS` (2 minutes).
A process paused longer than the expiry (Ctrl-Z, a suspended laptop, a paused VM)
has lost its lock: others may have treated it as stale (prune deletes the packs an
unfinished backup had not indexed yet). On resume the refresh notices that more
than the expiry passed since the last successful refresh and marks the lock *lost*
instead of renewing it; :meth:`RepositoryLock.ensure_valid` then raises, and writers
call it before each index file and snapshot, so a paused backup fails with "nothing
was saved" instead of saving a snapshot that names deleted packs.

A lock object that cannot be opened or parsed (damaged, planted, renamed, or with a
field of the wrong type) never crashes a command; it is always reported by name, and:

- counts as a conflicting lock for *exclusive* operations (prune, rotate, repair): they
  stop with a :class:`LockError` naming the object (hint: remove it with unlock), since
  its holder cannot be known;
- is ignored by *shared* operations (backup), with a warning naming it (once per process,
  on the ``keyark.locks`` logger), so one bad object cannot stop backups;
- is removed (and listed) by a plain unlock (not only "remove all"): no keyark client
  writes such a lock, so nobody can be holding it.

Names: an exclusive lock is ``locks/<random>``, a shared one ``locks/shared-<random>``
(the name is sealed into the object, so a renamed one is unreadable). A shared lock
conflicts only with exclusive ones, so a shared locker lists ``locks/`` and reads only
the objects without the shared mark (exclusive locks, locks of older versions, planted
objects): with many hosts backing up at once each backup reads no other backup's lock,
where it read every one (one GET per concurrent writer per backup, quadratic in the
fleet). An exclusive locker still reads every lock (any live lock conflicts with it).
An object named shared but holding an exclusive document is no keyark lock; shared
lockers pass over it, exclusive ones are stopped by it as by any live lock.

Waiting: :meth:`RepositoryLock.acquire` retries for up to ``retry`` seconds; before
each wait it tells ``on_wait`` who holds the lock (the repository turns that into a
``LockWait`` event) and sleeps through ``sleep`` (a cancel token's sleep, so a cancel
ends the wait at once, leaving no lock object behind).
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from keyark.backends.base import Backend
from keyark.crypto.envelope import ObjectKind, Sealer
from keyark.errors import BackendError, Hint, KeyarkError, LockError, NotFoundError
from keyark.process import pid_running
from keyark.repo.config import derive_subkey
from keyark.repo.fields import Fields, load_json

log = logging.getLogger("keyark.locks")

LOCK_PREFIX = "locks/"
REFRESH_SECONDS = 120.0
EXPIRY_SECONDS = 600.0
#: A lock may claim validity for at most this long past its creation.
MAX_LIFETIME_SECONDS = 86400.0
MAX_TEXT = 256
MAX_PID = 2**31 - 1
#: Year 6325: far beyond any real lock, within what datetime can render.
MAX_TIMESTAMP = 2.0**37
UNREADABLE = "unreadable lock"
#: What starts the random part of a shared lock's name (see the module docstring).
SHARED_MARK = "shared-"


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock, since when, and until when it is valid without refresh."""

    host: str
    pid: int
    username: str
    operation: str
    exclusive: bool
    created: float
    expires: float
    name: str = ""
    #: False for an object that could not be opened or parsed (see the module docstring).
    readable: bool = True
    #: Why an unreadable lock could not be read (one line, no secret).
    problem: str = ""

    @classmethod
    def parse(cls, raw: bytes, name: str) -> LockInfo:
        """Parse the plaintext of lock object ``name``; FormatError if anything is malformed.

        Every field is checked for type and range; ``expires`` must lie between 0
        and ``created`` plus :data:`MAX_LIFETIME_SECONDS`.
        """
        fields = Fields(load_json(raw, f"lock {_short(name)}"), f"lock {_short(name)}")
        created = fields.get_float("created", 0, MAX_TIMESTAMP)
        expires = fields.get_float("expires", 0, created + MAX_LIFETIME_SECONDS)
        return cls(
            host=fields.get_str("host", max_len=MAX_TEXT),
            pid=fields.get_int("pid", 0, MAX_PID),
            username=fields.get_str("username", max_len=MAX_TEXT),
            operation=fields.get_str("operation", max_len=MAX_TEXT),
            exclusive=fields.get_bool("exclusive"),
            created=created,
            expires=expires,
            name=name,
        )

    @classmethod
    def unreadable(cls, name: str, problem: str = "") -> LockInfo:
        """The stand-in for lock object ``name`` that could not be opened or parsed."""
        return cls("unknown", 0, "unknown", UNREADABLE, True, 0.0, 0.0, name, False, problem[:200])

    def is_stale(self, now: float | None = None) -> bool:
        """Whether the holder is gone (expired, or a dead process on this host).

        An unreadable lock is never stale: only an unlock removes it.
        """
        if not self.readable:
            return False
        now = time.time() if now is None else now
        if self.expires < now:
            return True
        return self.host == socket.gethostname() and self.pid > 0 and not pid_running(self.pid)

    def describe(self) -> str:
        """One line saying who holds the lock and since when."""
        if not self.readable:
            return (
                f"locked by unreadable lock object {self.name} (damaged, or not written by keyark)"
            )
        since = datetime.fromtimestamp(self.created, UTC).isoformat(timespec="seconds")
        kind = "exclusively" if self.exclusive else "shared"
        return (
            f"locked {kind} by {self.operation} on host {self.host} "
            f"(pid {self.pid}, user {self.username}) since {since}"
        )


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1][:16]


#: Hears of a wait for a conflicting lock: (its holder, seconds waited, wait limit).
WaitListener = Callable[[LockInfo, float, float], None]


_warned: set[str] = set()


def _warn_ignored(info: LockInfo) -> None:
    """Report (once per process) an unreadable lock that a shared operation ignores."""
    if info.name in _warned:
        return
    _warned.add(info.name)
    log.warning(
        "ignoring unreadable lock %s (%s); exclusive operations stop on it until it is removed",
        info.name,
        info.problem or "damaged, or not written by keyark",
        extra={"hint": Hint.REMOVE_LOCK},
    )


def lock_sealer(id_key: bytes) -> Sealer:
    """The sealer of lock objects (derived from the id key, so agents can lock too)."""
    return Sealer(derive_subkey(id_key, "keyark locks"))


def read_lock(backend: Backend, sealer: Sealer, name: str) -> LockInfo:
    """Open and parse lock object ``name``; an unreadable one gives :meth:`LockInfo.unreadable`.

    Raises only :class:`NotFoundError` (the object vanished) and backend errors.
    """
    data = backend.get(name)
    try:
        raw = sealer.open(ObjectKind.LOCK, name.encode(), data)
        return LockInfo.parse(raw, name)
    except KeyarkError as error:  # IntegrityError, FormatError
        return LockInfo.unreadable(name, str(error))


def is_shared_name(name: str) -> bool:
    """Whether lock object ``name`` is named as a shared lock (``locks/shared-...``)."""
    return name.startswith(LOCK_PREFIX + SHARED_MARK)


def read_locks(
    backend: Backend, sealer: Sealer, *, skip_shared: bool = False, own: str = ""
) -> Iterator[LockInfo]:
    """Every lock in the repository; unreadable ones as :meth:`LockInfo.unreadable` (warned).

    One listing and one read per object, except the caller's ``own`` lock and, with
    ``skip_shared``, the objects named as shared locks (not read, not yielded).
    """
    for info in backend.list(LOCK_PREFIX):
        if info.name == own or (skip_shared and is_shared_name(info.name)):
            continue
        try:
            yield read_lock(backend, sealer, info.name)
        except NotFoundError:
            continue


def remove_locks(backend: Backend, sealer: Sealer, *, remove_all: bool = False) -> list[LockInfo]:
    """Delete stale and unreadable locks (every lock with ``remove_all``); return those removed."""
    removed = []
    for info in read_locks(backend, sealer):
        if not (remove_all or info.is_stale() or not info.readable):
            continue
        try:
            backend.delete(info.name)
        except NotFoundError:
            continue
        removed.append(info)
    return removed


class RepositoryLock:
    """A held lock; use as a context manager or call :meth:`release`."""

    def __init__(self, backend: Backend, sealer: Sealer, operation: str, exclusive: bool) -> None:
        self._backend = backend
        self._sealer = sealer
        self.operation = operation
        self.exclusive = exclusive
        self.name = ""
        #: When the current lock object was written (it is valid for EXPIRY_SECONDS).
        self._written_at = 0.0
        #: Set when the lock expired before it could be refreshed (see ensure_valid).
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _write(self) -> tuple[str, float]:
        """Store a new lock object; return its name and creation time."""
        now = time.time()
        info = LockInfo(
            host=socket.gethostname(),
            pid=os.getpid(),
            username=os.environ.get("USER", str(os.getuid())),
            operation=self.operation,
            exclusive=self.exclusive,
            created=now,
            expires=now + EXPIRY_SECONDS,
        )
        name = LOCK_PREFIX + ("" if self.exclusive else SHARED_MARK) + os.urandom(16).hex()
        skip = ("name", "readable", "problem")
        document = {k: v for k, v in asdict(info).items() if k not in skip}
        payload = self._sealer.seal(ObjectKind.LOCK, name.encode(), json.dumps(document).encode())
        try:
            self._backend.put(name, payload)
        except BaseException:  # interrupted after the object landed: remove it again
            self._delete(name)
            raise
        return name, now

    def acquire(
        self,
        retry_seconds: float = 0.0,
        *,
        on_wait: WaitListener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RepositoryLock:
        """Take the lock, retrying up to ``retry_seconds``; raise :class:`LockError`.

        Before each wait ``on_wait(holder, waited, limit)`` hears who holds the lock;
        ``sleep`` waits (a cancel token's sleep ends the wait by raising). Interrupted
        at any point (a cancel, Ctrl-C, SIGTERM, a backend error), it leaves no lock.
        """
        try:
            return self._acquire(retry_seconds, on_wait, sleep)
        except BaseException:
            self.release()
            raise

    def _acquire(
        self,
        retry_seconds: float,
        on_wait: WaitListener | None,
        sleep: Callable[[float], None],
    ) -> RepositoryLock:
        started = time.monotonic()
        deadline = started + retry_seconds
        delay = 0.5
        while True:
            self.name, self._written_at = self._write()
            conflict = self._conflict()
            if conflict is None:
                break
            self._delete(self.name)
            self.name = ""
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" (waited {retry_seconds:g}s)" if retry_seconds > 0 else ""
                hint = Hint.UNLOCK if conflict.readable else Hint.REMOVE_LOCK
                raise LockError(f"repository is {conflict.describe()}{waited}", hint=hint)
            if on_wait is not None:
                on_wait(conflict, time.monotonic() - started, retry_seconds)
            # Jitter: two lockers that collided must not collide again in lockstep.
            sleep(min(left, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, 10.0)
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True, name="keyark-lock")
        self._thread.start()
        return self

    @property
    def held(self) -> bool:
        """Whether this lock was taken and not released (a lost lock is still held)."""
        with self._mutex:
            return bool(self.name)

    def ensure_valid(self, consequence: str = "stopped before deleting anything more") -> None:
        """Raise :class:`LockError` if the lock is lost or may have expired.

        Lost: the process was paused (or refreshing kept failing) past the expiry.
        Long maintenance calls this before deleting, and writers before each index
        file and snapshot, so nothing is deleted or saved under a lock that others may
        already consider stale. ``consequence`` ends the message (what was not done).
        """
        with self._mutex:
            held = bool(self.name)
            age = time.time() - self._written_at
            if held and age > EXPIRY_SECONDS:
                self._lost = True
            lost = self._lost
        if lost or not held or age > EXPIRY_SECONDS - REFRESH_SECONDS / 2:
            raise LockError(
                f"the {self.operation} was paused past its lock's expiry "
                f"({EXPIRY_SECONDS:g} s) or could not refresh its lock, so the lock "
                f"may have expired and is lost; {consequence}; run it again"
            )

    def _conflict(self) -> LockInfo | None:
        """The oldest live lock that conflicts (a long holder, not another locker's attempt).

        Unreadable locks conflict with exclusive operations only (see the module docstring).
        A shared lock reads no object named as a shared lock: those never conflict with it.
        """
        conflicts = []
        shared = not self.exclusive
        for info in read_locks(self._backend, self._sealer, skip_shared=shared, own=self.name):
            if info.is_stale():
                continue
            if not info.readable and not self.exclusive:
                _warn_ignored(info)
                continue
            if self.exclusive or info.exclusive:
                conflicts.append(info)
        return min(conflicts, key=lambda info: info.created, default=None)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            if not self.refresh():
                return

    def refresh(self) -> bool:
        """Replace the lock object with a fresh one; False once the lock is lost.

        The refresh must not hide a pause: if the current object expired before the
        new one is stored (more than the expiry passed since the last successful
        refresh), the lock is marked lost and not renewed, so :meth:`ensure_valid`
        raises even when this thread runs before the paused main thread resumes.
        A failed write keeps the old object and is retried on the next round.
        """
        with self._mutex:
            if self._lost or not self.name:
                return not self._lost
            if time.time() - self._written_at > EXPIRY_SECONDS:
                self._lost = True
                return False
        try:
            fresh, created = self._write()
        except BackendError:
            return True
        with self._mutex:
            # The new object only counts if the old one was still valid when it landed.
            if self.name and time.time() - self._written_at <= EXPIRY_SECONDS:
                old, self.name, self._written_at = self.name, fresh, created
            else:
                old, self._lost = fresh, bool(self.name)
        self._delete(old)
        return not self._lost

    def _delete(self, name: str) -> None:
        try:
            self._backend.delete(name)
        except BackendError:
            pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            try:
                self._thread.join(timeout=5)
            except RuntimeError:  # interrupted while starting: it never ran
                pass
            self._thread = None
        with self._mutex:
            if self.name:
                self._delete(self.name)
                self.name = ""

    def __enter__(self) -> RepositoryLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
