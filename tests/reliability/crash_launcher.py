"""Test-only launcher: run keyark's CLI with a crash at the Kth mutating storage operation.

Usage::

    python -m tests.reliability.crash_launcher KEYARK-ARGS...
    python -m tests.reliability.crash_launcher --steps STEPS.json RESULTS.json

Single mode runs ``keyark KEYARK-ARGS`` in this process with every backend the CLI
opens (``keyark.backends.registry.open_storage``, also where ``keyark.storage`` and
``keyark.ops`` imported it) wrapped in :class:`CrashingBackend`, which counts each
mutating storage operation (``put``, ``delete``, ``delete_temporary``) of the process,
across all its backends, in the order they start. Environment:

* ``KEYARK_CRASH_AT=K``: at operation number K (1-based) call ``os._exit(77)``,
* ``KEYARK_CRASH_WHEN=before|after``: before the operation starts, or after it returned,
* ``KEYARK_CRASH_COUNT_FILE=PATH``: written (JSON) at the crash or at the normal end:
  ``{"count": N, "crashed_at": K or null, "operations": [[VERB, LOCATION, NAME], ...]}``
  (VERB ``put``, ``delete`` or ``delete_temporary``; LOCATION the backend's). N counts
  the operations started: with a crash *after* K, operations of other threads that
  started while K ran are counted too (and were cut off by the crash).

Without ``KEYARK_CRASH_AT`` nothing crashes and the file records the total count.

Steps mode saves the interpreter start-up (~0.7 s) of every command: it imports
keyark once, then runs each step of STEPS.json (a list of ``{"args": [...], "env":
{...}}``; ``env`` values of ``null`` unset a variable) in a process of its own,
forked from this one, one after another, exactly as single mode would (the crash
variables of the step's ``env`` apply to that step only). RESULTS.json receives, per
step, ``{"rc", "stdout", "stderr", "record", "crash_object_exists"}``: ``record`` is
the count file's document (if the step set one), and after a crash
``crash_object_exists`` tells whether the object of the crash operation existed
right after the process died (before any later step ran).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from keyark.backends.base import Backend, ObjectInfo
from keyark.backends.wrapper import BackendWrapper

#: The exit code of a crash point: tests assert the process died exactly there.
CRASH_EXIT = 77
#: The exit code of a step whose launcher code itself failed.
LAUNCHER_ERROR = 70
AT_ENV = "KEYARK_CRASH_AT"
WHEN_ENV = "KEYARK_CRASH_WHEN"
COUNT_FILE_ENV = "KEYARK_CRASH_COUNT_FILE"


class CrashPlan:
    """The process-wide counter of mutating operations and where to die."""

    def __init__(self, at: int | None, when: str, count_file: str | None) -> None:
        if when not in ("before", "after"):
            raise ValueError(f"{WHEN_ENV} must be 'before' or 'after', not {when!r}")
        self.at = at
        self.when = when
        self.count_file = count_file
        self.count = 0
        self.operations: list[list[str]] = []
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> CrashPlan:
        at = os.environ.get(AT_ENV)
        return cls(
            int(at) if at else None,
            os.environ.get(WHEN_ENV, "before"),
            os.environ.get(COUNT_FILE_ENV),
        )

    def record(self, crashed: bool) -> None:
        if self.count_file is None:
            return
        document = {
            "count": self.count,
            "crashed_at": self.at if crashed else None,
            "operations": self.operations,
        }
        Path(self.count_file).write_text(json.dumps(document))

    def crash(self) -> None:
        """Record and die at once: no unwinding, no lock release, no clean-up."""
        with contextlib.suppress(Exception):
            self.record(crashed=True)
        for stream in (sys.stdout, sys.stderr):  # what it printed so far, for the test
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(CRASH_EXIT)

    def start(self, description: list[str]) -> int:
        """Count an operation about to start; die here if it is the 'before' crash point."""
        with self._lock:
            self.count += 1
            number = self.count
            self.operations.append(description)
            if number == self.at and self.when == "before":
                self.crash()
        return number

    def finished(self, number: int) -> None:
        """An operation returned; die here if it is the 'after' crash point."""
        if number == self.at and self.when == "after":
            with self._lock:
                self.crash()


class CrashingBackend(BackendWrapper):
    """Counts the mutating operations of ``inner`` in ``plan`` (and crashes by it)."""

    def __init__(self, inner: Backend, plan: CrashPlan) -> None:
        super().__init__(inner)
        self.plan = plan

    def _mutate(self, verb: str, name: str, operation: Callable[[], None]) -> None:
        number = self.plan.start([verb, self.inner.location(), name])
        operation()
        self.plan.finished(number)

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        self._mutate("put", name, lambda: self.inner.put(name, data, overwrite=overwrite))

    def delete(self, name: str) -> None:
        self._mutate("delete", name, lambda: self.inner.delete(name))

    def delete_temporary(self, name: str) -> None:
        inner = super().delete_temporary
        self._mutate("delete_temporary", name, lambda: inner(name))

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.get(name, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        return self.inner.stat(name)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (e.g. a backend-specific helper) pass through.
        return getattr(self.inner, name)


def install(plan: CrashPlan) -> None:
    """Wrap every backend the CLI opens from now on."""
    import keyark.ops.backend
    import keyark.storage
    from keyark.backends import registry

    original = registry.open_storage

    def open_storage(url: str, options: Any = None) -> Backend:
        return CrashingBackend(original(url, options), plan)

    registry.open_storage = open_storage
    keyark.storage.open_storage = open_storage  # type: ignore[attr-defined]
    keyark.ops.backend.open_storage = open_storage  # type: ignore[attr-defined]


def run_single(args: list[str]) -> int:
    """``keyark ARGS`` with the crash plan of the environment."""
    plan = CrashPlan.from_env()
    install(plan)
    from keyark.cli.main import main

    code = main(args)
    plan.record(crashed=False)
    return code


def _preload() -> None:
    """Import the CLI and every verb once, so forked steps start at once."""
    from keyark.cli import main

    for module in [*main.VERBS.values(), *(m for ms in main.EXTENSIONS.values() for m in ms)]:
        importlib.import_module(module)


def _child(step: dict[str, Any], out: Path, err: Path) -> None:
    """In the forked process: run one step with its own output files; never returns."""
    code = LAUNCHER_ERROR
    try:
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        for key, value in step.get("env", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        code = run_single(list(step["args"]))
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _crash_object_exists(record: dict[str, Any] | None) -> bool | None:
    if not record or record.get("crashed_at") is None:
        return None
    _verb, location, name = record["operations"][record["crashed_at"] - 1]
    return Path(str(location), str(name)).exists()


def run_steps(steps_file: str, results_file: str) -> int:
    """Each step of ``steps_file`` in a forked process of its own; results to ``results_file``."""
    _preload()
    steps: list[dict[str, Any]] = json.loads(Path(steps_file).read_text())
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="crash-steps-") as scratch:
        for number, step in enumerate(steps):
            out, err = Path(scratch, f"{number}.out"), Path(scratch, f"{number}.err")
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(step, out, err)
            started = time.monotonic()
            _pid, status = os.waitpid(pid, 0)
            count_file = step.get("env", {}).get(COUNT_FILE_ENV)
            record = None
            if count_file and Path(count_file).exists():
                record = json.loads(Path(count_file).read_text())
            results.append(
                {
                    "rc": os.waitstatus_to_exitcode(status),
                    "stdout": out.read_text(errors="replace") if out.exists() else "",
                    "stderr": err.read_text(errors="replace") if err.exists() else "",
                    "record": record,
                    "crash_object_exists": _crash_object_exists(record),
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
    Path(results_file).write_text(json.dumps(results))
    return 0


def entry(argv: list[str]) -> int:
    if argv[:1] == ["--steps"]:
        return run_steps(argv[1], argv[2])
    return run_single(argv)


if __name__ == "__main__":
    sys.exit(entry(sys.argv[1:]))
