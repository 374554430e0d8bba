"""Process-wide settings: no core dumps (every face), a tuned allocator, SIGTERM handling.

Core dumps would write decrypted keys and passphrases to disk, so keyark turns
them off for the whole process as soon as the package is imported (the command
line, the Python API, the daemon and the server alike; principle 6): the core
size limit goes to zero and, on Linux, the process is marked not dumpable,
which also keeps other processes of the same user from reading its memory
through ``ptrace`` or ``/proc/<pid>/mem``.


glibc raises its mmap threshold dynamically after large blocks are freed, after
which pack-sized buffers (megabytes) come from the heap and fragment it: peak RSS
grows to several times the live data. Pinning the threshold keeps large buffers
in their own mappings, returned to the system as soon as they are freed.

``SIGTERM`` (what ``kill``, systemd and container runtimes send) unwinds the command
line like Ctrl-C: :class:`Terminated` is a :class:`KeyboardInterrupt`, so every
``finally`` and context manager runs (the lock object is deleted, temporary files are
removed) and the command exits :data:`EXIT_TERMINATED` (143, as a process killed by the
signal would). A second ``SIGTERM`` during that clean-up ends the process at once.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

from keyark.cancel import CancelToken
from keyark.errors import EXIT_INTERRUPTED

M_MMAP_THRESHOLD = -3
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
#: Pack-sized buffers (16 MiB) and large chunks get their own mappings; smaller ones,
#: which are allocated and freed at a high rate, stay on the heap (a lower threshold costs
#: measurable system time on big files).
MMAP_THRESHOLD = 1024 * 1024
#: Exit code after SIGTERM: 128 + the signal number, as the shell reports a killed process.
EXIT_TERMINATED = 128 + signal.SIGTERM


#: A signal handler as :func:`signal.signal` takes and returns it.
SignalHandler = Callable[[int, FrameType | None], object] | int


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; unwinds like Ctrl-C (locks released, temporary files removed)."""


def tune_allocator() -> bool:
    """Pin glibc's mmap threshold; a no-op elsewhere. Returns True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def disable_core_dumps() -> bool:
    """No core dump of this process: core size limit 0 and, on Linux, not dumpable.

    Best effort and idempotent; returns True if both took effect (or the platform
    has no dumpable flag).
    """
    limited = True
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        limited = False
    if not sys.platform.startswith("linux"):
        return limited
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return limited and libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def raise_file_limit() -> None:
    """Raise the soft open-file limit to the hard one (restore keeps directories open)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    except (ValueError, OSError):
        pass


def prepare() -> None:
    """Everything the command line sets up before it touches key material."""
    disable_core_dumps()
    raise_file_limit()
    tune_allocator()


@contextmanager
def terminate_gracefully(token: CancelToken | None = None) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM cancel ``token`` and unwind the main thread.

    The token stops worker threads at their next checkpoint; the main thread gets
    ``KeyboardInterrupt`` (SIGINT) or :class:`Terminated` (SIGTERM) at once, so every
    ``finally`` runs: the lock is released and temporary files are removed. A second
    SIGTERM during that clean-up ends the process at once. Outside the main thread (an
    embedding program's worker) nothing is installed; the previous handlers come back
    when the block ends.
    """

    def on_signal(number: int, _frame: FrameType | None) -> None:
        terminated = number == signal.SIGTERM
        if token is not None:
            token.cancel(
                "terminated" if terminated else "interrupted",
                EXIT_TERMINATED if terminated else EXIT_INTERRUPTED,
            )
        if terminated:
            signal.signal(number, signal.SIG_DFL)
            raise Terminated()
        raise KeyboardInterrupt()

    with signal_handlers({signal.SIGTERM: on_signal, signal.SIGINT: on_signal}):
        yield


@contextmanager
def signal_handlers(handlers: Mapping[signal.Signals, SignalHandler]) -> Iterator[None]:
    """``handlers`` (signal -> handler or ``SIG_DFL``/``SIG_IGN``) while the block runs,
    the previous handlers afterwards. Outside the main thread of the main interpreter,
    where no handler can be installed, nothing changes."""
    previous: dict[signal.Signals, SignalHandler | None] = {}
    try:
        for number, handler in handlers.items():
            previous[number] = signal.signal(number, handler)
    except ValueError:  # not the main thread of the main interpreter
        pass
    try:
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier if earlier is not None else signal.SIG_DFL)


def was_terminated(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from, e.g. click's Abort) is a SIGTERM."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, Terminated):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def pid_running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (another user's counts: it runs). A
    zombie does not: it has ended, only its exit status waits for a parent (a killed
    daemon whose parent has not reaped it yet)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: the signal test is all there is
    return state not in (b"Z", b"X")
