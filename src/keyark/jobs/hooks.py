"""A job's shell hooks: ``/bin/sh -c`` with the job's name, status and snapshot id.

A hook's environment is keyark's own without its secrets
(:func:`keyark.redaction.child_environment`) plus ``KEYARK_JOB``, ``KEYARK_STATUS``
(``running``, ``success``, ``partial``, ``failed``) and ``KEYARK_SNAPSHOT_ID`` (empty
before the backup). Each hook runs in its own process group with a time limit; over
it, the whole group is killed. Output (stdout and stderr) is captured; its last lines
say why a hook failed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from keyark.archiver.commands import exit_description, kill_process_group
from keyark.redaction import child_environment, redact

#: How much of a failing hook's output its failure keeps.
TAIL_CHARS = 400


@dataclass(frozen=True)
class HookEnvironment:
    """What a hook is told about its run."""

    job: str
    status: str
    snapshot_id: str | None = None

    def variables(self) -> dict[str, str]:
        """The environment a hook runs with."""
        env = child_environment()
        env.update(
            KEYARK_JOB=self.job,
            KEYARK_STATUS=self.status,
            KEYARK_SNAPSHOT_ID=self.snapshot_id or "",
        )
        return env


@dataclass(frozen=True)
class HookFailure:
    """Which hook failed and how (a status, a timeout, or a start failure)."""

    command: str
    reason: str
    output: str = ""

    def __str__(self) -> str:
        tail = self.output.strip()[-TAIL_CHARS:]
        text = f"hook {self.command!r} {self.reason}"
        return redact(f"{text}: {tail}" if tail else text)


def run_hook(command: str, env: HookEnvironment, timeout: timedelta) -> HookFailure | None:
    """Run one hook; None when it exited 0, else why not."""
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env.variables(),
            start_new_session=True,
        )
    except OSError as error:
        return HookFailure(command, f"could not start: {error.strerror}")
    try:
        output, _ = process.communicate(timeout=timeout.total_seconds())
    except subprocess.TimeoutExpired:
        kill_process_group(process)
        output = _drain(process)
        seconds = timeout.total_seconds()
        return HookFailure(
            command, f"ran over its {seconds:g}s limit and was killed", _text(output)
        )
    except BaseException:
        kill_process_group(process)
        process.wait()
        raise
    finally:
        if process.poll() is None:  # pragma: no cover - communicate() waited
            kill_process_group(process)
    if process.returncode == 0:
        return None
    return HookFailure(command, exit_description(process.returncode), _text(output))


def run_hooks(
    commands: Sequence[str], env: HookEnvironment, timeout: timedelta, *, keep_going: bool
) -> HookFailure | None:
    """Run hooks in order; the first failure is returned. Without ``keep_going`` the
    hooks after a failing one are not run (``before`` hooks: the job stops there)."""
    first: HookFailure | None = None
    for command in commands:
        failure = run_hook(command, env, timeout)
        if failure is not None:
            first = first or failure
            if not keep_going:
                break
    return first


def _drain(process: subprocess.Popen[bytes]) -> bytes:
    """What a killed hook wrote (a grandchild that left the group may hold the pipe)."""
    try:
        output, _ = process.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        process.kill()
        assert process.stdout is not None
        process.stdout.close()
        process.wait()
        return b""
    return output


def _text(output: bytes | None) -> str:
    return (output or b"").decode("utf-8", "replace")
