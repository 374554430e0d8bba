"""The daemon as a process: its pid file, one instance at a time, start/stop/status.

- :class:`PidFile`: ``<state_dir>/daemon.pid`` (0600), written atomically once the
  daemon is ready and removed when it exits; a pid in it counts only while that
  process lives and is a keyark (a recycled pid of another program does not).
- :class:`InstanceLock`: an exclusive ``flock`` on ``<pid file>.lock``, held for the
  daemon's life, so two daemons of one state never run at once (two starting at the
  same moment included; the kernel drops the lock when the process dies, even by
  ``kill -9``).
- :func:`start_background` (``daemon start``): the same daemon as a detached child
  (own session, standard input ``/dev/null``, output appended to the log file); waits
  until the child writes the pid file (it does once ready) and returns its pid.
- :func:`stop` (``daemon stop``): ``SIGTERM``, then wait for the process to end.
- :func:`status` (``daemon status``): running pid and since when, or not running.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyark.errors import DaemonError
from keyark.process import pid_running

#: How long ``daemon start`` waits for the child to report ready.
START_TIMEOUT = 60.0
#: How long ``daemon stop`` waits for running jobs to unwind.
STOP_TIMEOUT = 120.0
_POLL = 0.05


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie: see :func:`pid_running`) process that looks
    like keyark."""
    if not pid_running(pid):
        return False
    try:
        command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return True  # no /proc (or not readable): the signal test is all we have
    # empty while an exec is under way: the process lives, and no name says otherwise
    return not command or b"keyark" in command


@dataclass
class PidFile:
    """The daemon's pid file: one decimal pid and a newline."""

    path: Path

    def read(self) -> int | None:
        """The pid in the file, or None (missing, empty or not a number)."""
        try:
            text = self.path.read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return int(text) if text.isdigit() else None

    def running(self) -> int | None:
        """The pid of the live daemon this file names, or None."""
        pid = self.read()
        return pid if pid is not None and process_alive(pid) else None

    def written(self) -> datetime | None:
        """When the file was written (when its daemon got ready), or None."""
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        except OSError:
            return None

    def write(self, pid: int) -> None:
        """Write ``pid`` atomically (0600, a temporary file renamed into place)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{pid}.tmp")
        fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, f"{pid}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)

    def remove(self, pid: int) -> None:
        """Remove the file if it still names ``pid`` (never another daemon's file)."""
        if self.read() == pid:
            self.path.unlink(missing_ok=True)


class InstanceLock:
    """One daemon per pid file: an exclusive lock on ``<pid file>.lock`` held while it runs."""

    def __init__(self, pid_file: PidFile) -> None:
        self.pid_file = pid_file
        self.path = pid_file.path.with_name(pid_file.path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`DaemonError` naming the daemon holding it."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.pid_file.read()
            holder = f" (pid {pid})" if pid is not None else ""
            raise DaemonError(
                f"another keyark daemon{holder} is running with pid file {self.pid_file.path}"
            ) from None
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race a starting daemon)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def log_tail(log_file: Path, offset: int = 0, lines: int = 15) -> list[str]:
    """The last ``lines`` lines of ``log_file`` written after byte ``offset``."""
    try:
        with open(log_file, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


class StartError(DaemonError):
    """The background daemon exited or hung before it was ready; ``log`` holds its last lines."""

    def __init__(self, message: str, log: list[str]) -> None:
        super().__init__(message)
        self.log = log


def start_background(
    argv: Sequence[str],
    *,
    pid_file: PidFile,
    log_file: Path,
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
) -> int:
    """Start ``argv`` (a foreground ``keyark daemon``) detached; return its pid once ready.

    The child gets its own session (no terminal signals reach it), standard input from
    ``/dev/null`` and its output appended to ``log_file``. It is ready when the pid
    file names it. Raises :class:`StartError` with the log's last lines when it exits
    first or is not ready within ``timeout`` seconds (then it is left running).
    """
    running = pid_file.running()
    if running is not None:
        raise DaemonError(f"a keyark daemon is running already (pid {running}, {pid_file.path})")
    log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    offset = os.fstat(fd).st_size
    try:
        with open(os.devnull, "rb") as null:
            child = subprocess.Popen(
                list(argv),
                stdin=null,
                stdout=fd,
                stderr=fd,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
    finally:
        os.close(fd)
    deadline = time.monotonic() + timeout
    while True:
        if pid_file.read() == child.pid:
            _detach(child)
            return child.pid
        code = child.poll()
        if code is not None:
            raise StartError(
                f"the daemon exited with status {code} before it was ready",
                log_tail(log_file, offset),
            )
        if time.monotonic() > deadline:
            _detach(child)
            raise StartError(
                f"the daemon (pid {child.pid}) did not report ready within {timeout:g}s; "
                f"it is still running, see {log_file}",
                log_tail(log_file, offset),
            )
        time.sleep(_POLL)


def _detach(child: subprocess.Popen[Any]) -> None:
    """Forget ``child`` without waiting for it (it outlives this process)."""
    child.returncode = 0  # keeps Popen.__del__ from warning about a running child


@dataclass(frozen=True)
class DaemonStatus:
    """Whether the daemon of a pid file runs, its pid and since when."""

    running: bool
    pid: int | None
    started: datetime | None
    pid_file: Path
    #: A pid file whose process is gone (the daemon was killed).
    stale: bool = False

    @property
    def uptime(self) -> float | None:
        """Seconds since the daemon got ready (None when not running)."""
        if not self.running or self.started is None:
            return None
        return max(0.0, (datetime.now(UTC) - self.started).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "running": self.running,
            "pid": self.pid,
            "started": None if self.started is None else self.started.isoformat(),
            "uptime_seconds": None if self.uptime is None else round(self.uptime, 3),
            "pid_file": str(self.pid_file),
            "stale_pid_file": self.stale,
        }


def status(pid_file: PidFile) -> DaemonStatus:
    """The daemon's state as its pid file and the process table say."""
    pid = pid_file.read()
    if pid is not None and process_alive(pid):
        return DaemonStatus(True, pid, pid_file.written(), pid_file.path)
    return DaemonStatus(False, None, None, pid_file.path, stale=pid is not None)


@dataclass(frozen=True)
class StopResult:
    """What ``stop`` did: the pid it signalled (None: nothing ran) and whether it ended."""

    pid: int | None
    stopped: bool
    seconds: float = 0.0


def stop(pid_file: PidFile, timeout: float = STOP_TIMEOUT) -> StopResult:
    """Send ``SIGTERM`` to the daemon and wait up to ``timeout`` seconds for it to end."""
    pid = pid_file.running()
    if pid is None:
        return StopResult(None, True)
    began = time.monotonic()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return StopResult(pid, True)
    while time.monotonic() - began < timeout:
        if not process_alive(pid):
            return StopResult(pid, True, time.monotonic() - began)
        time.sleep(_POLL)
    return StopResult(pid, False, time.monotonic() - began)
