"""Repository locks: shared (backup) and exclusive (prune, rotate, repair).

A lock is a small sealed object ``locks/<random>`` naming host, pid, user,
operation, creation time and expiry. It is sealed with a key derived from the
id key, so write-only agents can take and read locks too. A held lock is
refreshed in the background (a new object, then the old one deleted). A lock is
stale when it has expired, or when it names this host and a process that no
longer exists.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from keyark.backends.base import Backend
from keyark.crypto.envelope import ObjectKind, Sealer
from keyark.errors import BackendError, IntegrityError, LockError, NotFoundError
from keyark.repo.config import derive_subkey

LOCK_PREFIX = "locks/"
REFRESH_SECONDS = 120.0
EXPIRY_SECONDS = 600.0


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

    def is_stale(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.expires < now:
            return True
        if self.host == socket.gethostname() and self.pid > 0:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.created, UTC).isoformat(timespec="seconds")
        kind = "exclusively" if self.exclusive else "shared"
        return (
            f"locked {kind} by {self.operation} on host {self.host} "
            f"(pid {self.pid}, user {self.username}) since {since}"
        )


def lock_sealer(id_key: bytes) -> Sealer:
    return Sealer(derive_subkey(id_key, "keyark locks"))


def read_locks(backend: Backend, sealer: Sealer) -> Iterator[LockInfo]:
    """Every lock in the repository; unreadable ones are reported as foreign locks."""
    for info in backend.list(LOCK_PREFIX):
        try:
            raw = sealer.open(ObjectKind.LOCK, info.name.encode(), backend.get(info.name))
            fields = json.loads(raw)
            fields.pop("name", None)
            yield LockInfo(**fields, name=info.name)
        except NotFoundError:
            continue
        except (IntegrityError, ValueError, TypeError):
            yield LockInfo(
                "unknown", 0, "unknown", "unreadable lock", True, 0, float("inf"), info.name
            )


def remove_locks(backend: Backend, sealer: Sealer, *, remove_all: bool = False) -> list[LockInfo]:
    """Delete stale locks (every lock with ``remove_all``); return the ones removed."""
    removed = []
    for info in read_locks(backend, sealer):
        if not (remove_all or info.is_stale()):
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
        self._written_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _write(self) -> str:
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
        name = LOCK_PREFIX + os.urandom(16).hex()
        document = {k: v for k, v in asdict(info).items() if k != "name"}
        payload = self._sealer.seal(ObjectKind.LOCK, name.encode(), json.dumps(document).encode())
        self._backend.put(name, payload)
        return name

    def acquire(self, retry_seconds: float = 0.0) -> RepositoryLock:
        """Take the lock, retrying up to ``retry_seconds``; raise :class:`LockError`."""
        deadline = time.monotonic() + retry_seconds
        delay = 0.5
        while True:
            self.name = self._write()
            self._written_at = time.time()
            conflict = self._conflict()
            if conflict is None:
                break
            self._delete(self.name)
            self.name = ""
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f" (waited {retry_seconds:g}s)" if retry_seconds > 0 else ""
                hint = "; if that process is gone, run 'keyark unlock'"
                raise LockError(f"repository is {conflict.describe()}{waited}{hint}")
            # Jitter: two lockers that collided must not collide again in lockstep.
            time.sleep(min(left, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, 10.0)
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True, name="keyark-lock")
        self._thread.start()
        return self

    def ensure_valid(self) -> None:
        """Raise :class:`LockError` if the lock may have expired (refresh kept failing).

        Long maintenance calls this before deleting, so it never deletes under a
        lock that others may already consider stale.
        """
        with self._mutex:
            held = bool(self.name)
            age = time.time() - self._written_at
        if not held or age > EXPIRY_SECONDS - REFRESH_SECONDS / 2:
            raise LockError(
                f"the {self.operation} lock could not be refreshed and may have expired; "
                "stopped before deleting anything more (run the command again)"
            )

    def _conflict(self) -> LockInfo | None:
        """The oldest live lock that conflicts (a long holder, not another locker's attempt)."""
        conflicts = [
            info
            for info in read_locks(self._backend, self._sealer)
            if info.name != self.name and not info.is_stale() and (self.exclusive or info.exclusive)
        ]
        return min(conflicts, key=lambda info: info.created, default=None)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                fresh = self._write()
            except BackendError:
                continue
            with self._mutex:
                old, self.name = self.name, fresh
                self._written_at = time.time()
            self._delete(old)

    def _delete(self, name: str) -> None:
        try:
            self._backend.delete(name)
        except BackendError:
            pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._mutex:
            if self.name:
                self._delete(self.name)
                self.name = ""

    def __enter__(self) -> RepositoryLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
