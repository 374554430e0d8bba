"""Test-only launcher: run keyark's CLI with a crash at the Kth mutating storage operation.

Usage::

    python -m tests.reliability.crash_launcher KEYARK-ARGS...
    python -m tests.reliability.crash_launcher --batch COMMANDS.json RESULTS.json

Single mode runs ``keyark KEYARK-ARGS`` in this process with every backend the CLI
opens (``keyark.backends.registry.open_storage``, also where ``keyark.storage`` and
``keyark.ops`` imported it) wrapped in :class:`CrashingBackend`, which counts each
mutating storage operation (``put``, ``delete``, ``delete_temporary``) of the process,
across all its backends, in the order they start. Environment:

* ``KEYARK_CRASH_AT=K``: at operation number K (1-based) call ``os._exit(77)``,
* ``KEYARK_CRASH_WHEN=before|after``: before the operation starts, or after it returned,
* ``KEYARK_CRASH_COUNT_FILE=PATH``: written (JSON) at the crash or at the normal end:
  ``{"count": N, "crashed": bool, "operations": ["put data/ab/...", ...]}``.

Without ``KEYARK_CRASH_AT`` nothing crashes and the file records the total count.

Batch mode runs several keyark commands one after another in one fresh interpreter
(to save ~0.8 s of start-up each): COMMANDS.json is a list of ``{"args": [...],
"env": {...}}`` (``env`` values of ``null`` unset a variable for that command);
RESULTS.json receives ``[{"rc": .., "stdout": .., "stderr": ..}, ...]``. No crash
wrapper in batch mode: it is for verification.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyark.backends.base import Backend, ObjectInfo
from keyark.backends.wrapper import BackendWrapper

#: The exit code of a crash point: tests assert the process died exactly there.
CRASH_EXIT = 77
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
        self.operations: list[str] = []
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
        document = {"count": self.count, "crashed": crashed, "operations": self.operations}
        Path(self.count_file).write_text(json.dumps(document))

    def crash(self) -> None:
        """Record and die at once: no unwinding, no lock release, no clean-up."""
        with contextlib.suppress(Exception):
            self.record(crashed=True)
        os._exit(CRASH_EXIT)

    def start(self, description: str) -> int:
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

    def _mutate(self, description: str, operation: Callable[[], None]) -> None:
        number = self.plan.start(description)
        operation()
        self.plan.finished(number)

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        self._mutate(f"put {name}", lambda: self.inner.put(name, data, overwrite=overwrite))

    def delete(self, name: str) -> None:
        self._mutate(f"delete {name}", lambda: self.inner.delete(name))

    def delete_temporary(self, name: str) -> None:
        self._mutate(f"delete_temporary {name}", lambda: super(CrashingBackend, self).delete_temporary(name))

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.inner.get(name, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        return self.inner.stat(name)

    def list(self, prefix: str):  # type: ignore[no-untyped-def]
        return self.inner.list(prefix)

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (e.g. LocalBackend.exists) pass through.
        return getattr(self.inner, name)


def install(plan: CrashPlan) -> None:
    """Wrap every backend the CLI opens from now on."""
    import keyark.ops
    import keyark.storage
    from keyark.backends import registry

    original = registry.open_storage

    def open_storage(url: str, options: Any = None) -> Backend:
        return CrashingBackend(original(url, options), plan)

    registry.open_storage = open_storage
    keyark.storage.open_storage = open_storage  # type: ignore[attr-defined]
    keyark.ops.open_storage = open_storage  # type: ignore[attr-defined]


def run_single(args: list[str]) -> int:
    plan = CrashPlan.from_env()
    install(plan)
    from keyark.cli.main import main

    code = main(args)
    plan.record(crashed=False)
    return code


def run_batch(commands_file: str, results_file: str) -> int:
    from keyark.cli.main import main

    commands: list[dict[str, Any]] = json.loads(Path(commands_file).read_text())
    results: list[dict[str, Any]] = []
    for command in commands:
        saved = dict(os.environ)
        for key, value in command.get("env", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(command["args"]))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        results.append({"rc": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
    Path(results_file).write_text(json.dumps(results))
    return 0


def entry(argv: list[str]) -> int:
    if argv[:1] == ["--batch"]:
        return run_batch(argv[1], argv[2])
    return run_single(argv)


if __name__ == "__main__":
    sys.exit(entry(sys.argv[1:]))
