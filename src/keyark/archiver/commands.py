"""Command data sources: a command's standard output stored as a file of the snapshot.

A backup may hold, besides its source paths, the output of commands
(:class:`CommandSourceSpec`: ``vault operator raft snapshot save /dev/stdout`` as
``vault/raft.snap``). Each command runs by ``/bin/sh -c`` (or as an argument list)
in its own process group, with keyark's environment minus keyark's own secrets
(:func:`keyark.redaction.data_source_environment`); its output is streamed into
blobs like any file. A command that cannot start, exits with a non-zero status, runs
over its time limit or is cancelled fails the backup: no snapshot is saved.

The files are grafted into the snapshot's tree at their paths: the directories
above them are those above the sources (kept as they are) or made for them (mode
0700, owned by the backing-up user). A command's path may not be a source, lie
inside one, or hold one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, cast

from keyark.archiver.files import FileResult
from keyark.archiver.metadata import owner_names
from keyark.cancel import CancelToken
from keyark.errors import SourceError, UsageError
from keyark.redaction import data_source_environment
from keyark.repo.tree import DIR, FILE, Node

#: The mode of a file backed up from a stream (owner only: it is often a secret).
STREAM_MODE = 0o600
#: The mode of a directory made above a command's file.
MADE_DIR_MODE = 0o700
#: How often a running command's watcher looks at the cancel token.
POLL_SECONDS = 0.1

#: Stores a directory's nodes as a tree blob and returns its id.
TreeStore = Callable[[list[Node]], bytes]


@dataclass(frozen=True)
class CommandSourceSpec:
    """One command whose standard output is stored as the file ``path``."""

    #: Where the file goes in the snapshot: a relative path (``vault/raft.snap``).
    path: str
    #: A shell command line (run by ``/bin/sh -c``) or an argument list (run directly).
    command: str | tuple[str, ...]
    #: Seconds the command may run; None: no limit.
    timeout: float | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        """The path's components (checked: relative, no ``.``/``..``, no empty part)."""
        parts = tuple(self.path.split("/"))
        if (
            not self.path
            or self.path.startswith("/")
            or any(part in ("", ".", "..") or "\0" in part for part in parts)
        ):
            raise UsageError(
                f"command output path {self.path!r}: use a relative path such as "
                "vault/raft.snap (no leading /, no . or .. parts)"
            )
        return parts

    @property
    def snapshot_path(self) -> str:
        """The file's absolute path in the snapshot."""
        return "/" + "/".join(self.parts)

    def argv(self) -> list[str]:
        """What is executed."""
        if isinstance(self.command, str):
            return ["/bin/sh", "-c", self.command]
        return list(self.command)

    def describe(self) -> str:
        """The command, for messages (its program name only: an argument may be secret)."""
        program = self.command.split()[0] if isinstance(self.command, str) else self.command[0]
        return f"command {program!r} (for {self.path})"


def check_command_paths(specs: Sequence[CommandSourceSpec], sources: Sequence[str]) -> list[str]:
    """The commands' snapshot paths; a UsageError when one clashes with a source or
    another command's path."""
    paths: list[str] = []
    for spec in specs:
        path = spec.snapshot_path
        for other in [*sources, *paths]:
            if path == other or path.startswith(other + "/") or other.startswith(path + "/"):
                raise UsageError(
                    f"command output path {spec.path!r} clashes with {other!r}: "
                    "give each command its own path outside the sources"
                )
        paths.append(path)
    return paths


@contextmanager
def command_output(spec: CommandSourceSpec, cancel: CancelToken) -> Iterator[BinaryIO]:
    """The standard output of ``spec``'s command for the block.

    After the block the command must have exited 0, else :class:`SourceError`. A
    watcher kills the command's process group when its time is up or ``cancel`` is
    cancelled (so a silent command cannot hold the backup); a failing block kills it.
    """
    try:
        process = subprocess.Popen(
            spec.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=data_source_environment(),
            start_new_session=True,
        )
    except OSError as error:
        raise SourceError(f"cannot run {spec.describe()}: {error.strerror}") from None
    watcher = _Watcher(process, spec.timeout, cancel)
    output = cast(BinaryIO, process.stdout)
    try:
        yield output
    except BaseException:
        kill_process_group(process)
        process.wait()
        raise
    finally:
        output.close()
        status = process.wait()
        watcher.stop()
    cancel.check()  # killed by a cancel: the run says so, not "killed by signal 9"
    if watcher.timed_out:
        raise SourceError(
            f"{spec.describe()} ran over its {spec.timeout:g}s limit and was killed; "
            "its output was not saved"
        )
    if status != 0:
        raise SourceError(f"{spec.describe()} {exit_description(status)}; its output was not saved")


class _Watcher:
    """Kills a command's process group on its timeout or a cancel."""

    def __init__(
        self, process: subprocess.Popen[bytes], timeout: float | None, cancel: CancelToken
    ) -> None:
        self.process = process
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.cancel = cancel
        self.timed_out = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="keyark-command", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            late = self.deadline is not None and time.monotonic() >= self.deadline
            if late or self.cancel.cancelled:
                self.timed_out = late and not self.cancel.cancelled
                kill_process_group(self.process)
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def kill_process_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a child started in its own session and everything it started (its group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def exit_description(status: int) -> str:
    """``exited with status 3`` or ``was killed by signal 9`` (a child's return code)."""
    return f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"


def stream_node(name: str, result: FileResult) -> Node:
    """The file node of a stream's content (mode 0600, owned by this user, made now)."""
    node = _made_node(name, FILE, STREAM_MODE)
    node.size = result.bytes_read
    node.content = result.content
    return node


def _made_dir(name: str) -> Node:
    return _made_node(name, DIR, MADE_DIR_MODE)


def _made_node(name: str, kind: str, mode: int) -> Node:
    """A node keyark makes itself: owned by this user, made now."""
    user, group = owner_names(os.getuid(), os.getgid())
    stamp = time.time_ns()
    return Node(
        name=name,
        type=kind,
        mode=mode,
        uid=os.getuid(),
        gid=os.getgid(),
        user=user,
        group=group,
        mtime_ns=stamp,
        ctime_ns=stamp,
    )


def graft(
    nodes: list[Node],
    files: Sequence[tuple[tuple[str, ...], Node]],
    known: dict[bytes, list[Node]],
    store: TreeStore,
) -> bytes:
    """Store the directory ``nodes`` with ``files`` (each: parts below it, file node)
    added, and return its tree id. ``known`` holds the listings of the directories
    above the sources by tree id (only those may gain entries)."""
    listing = list(nodes)
    below: dict[str, list[tuple[tuple[str, ...], Node]]] = {}
    for parts, node in files:
        if len(parts) == 1:
            if any(existing.name == parts[0] for existing in listing):
                raise UsageError(f"command output {node.name!r} clashes with a source")
            listing.append(node)
        else:
            below.setdefault(parts[0], []).append((parts[1:], node))
    for name, entries in below.items():
        existing = next((node for node in listing if node.name == name), None)
        if existing is None:
            existing = _made_dir(name)
            listing.append(existing)
            children: list[Node] = []
        elif existing.type == DIR and existing.subtree in known:
            children = known[existing.subtree]
        else:
            raise UsageError(f"a command output goes below {name!r}, which is a source")
        existing.subtree = graft(children, entries, known, store)
    return store(listing)


__all__ = [
    "CommandSourceSpec",
    "check_command_paths",
    "command_output",
    "exit_description",
    "graft",
    "kill_process_group",
    "stream_node",
]
