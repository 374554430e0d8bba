"""Interrupted restores must not leave ``.keyark-restore-*`` files behind for good.

A restore killed with SIGKILL (no clean-up possible) leaves its partial temporary
files; the next successful restore into the same target removes them (the process
that owned them is gone). The kill is triggered when a temporary file is observed in
the target, and the positive control asserts that such a file really was left by the
killed restore. A restore stopped by SIGTERM removes its own temporary files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import CLI, keyark_binary, tree_state

from keyark.process import EXIT_TERMINATED
from keyark.restorer.leftovers import TEMP_PREFIX, is_abandoned

FILES = 6
FILE_SIZE = 12 * 1024 * 1024


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"{TEMP_PREFIX}*")]


def _restore_until_temp_appears(cli: CLI, target: Path, sig: int) -> tuple[list[Path], int, str]:
    """Start a restore, send ``sig`` once a temporary file exists; (temps seen, rc, stderr)."""
    process = subprocess.Popen(
        [keyark_binary(), "restore", "latest", "--target", str(target)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: list[Path] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            seen = _temps(target) if target.exists() else []
            if seen:
                process.send_signal(sig)
                break
            time.sleep(0.001)
        _out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return seen, process.returncode, err.decode()


def _backed_up(cli: CLI, tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(FILES):
        (source / f"vault{i}.bin").write_bytes(os.urandom(FILE_SIZE))
    cli.run("init", "--pack-size", "4", check=True)
    cli.run("backup", str(source), check=True)
    return source


def test_restore_after_a_killed_restore_removes_its_leftovers(cli: CLI, tmp_path: Path) -> None:
    source = _backed_up(cli, tmp_path)
    # On a loaded machine the temporary file seen may be renamed into place before the
    # kill lands; a few attempts (each in a fresh target) make sure one is caught.
    for attempt in range(5):
        target = tmp_path / f"out{attempt}"
        seen, returncode, _err = _restore_until_temp_appears(cli, target, signal.SIGKILL)
        assert seen and returncode == -signal.SIGKILL
        left = _temps(target)
        if left:
            break
    assert left, "positive control: the killed restore left a partial temporary file"
    cli.run("restore", "latest", "--target", str(target), check=True)
    assert not _temps(target), "the successful restore must remove the killed one's leftovers"
    assert tree_state(target / source.relative_to("/")) == tree_state(source)


def test_sigterm_restore_removes_its_own_temp_files(cli: CLI, tmp_path: Path) -> None:
    _backed_up(cli, tmp_path)
    target = tmp_path / "out"
    seen, returncode, err = _restore_until_temp_appears(cli, target, signal.SIGTERM)
    assert seen, "positive control: the restore was writing a temporary file when signalled"
    assert returncode == EXIT_TERMINATED, err
    assert not _temps(target)
    assert not list((cli.repo / "locks").iterdir())


def test_live_restores_files_are_kept(tmp_path: Path) -> None:
    """A temporary file of a running process is never taken for abandoned."""
    now = time.time()
    mine = f"{TEMP_PREFIX}{os.getpid()}-abcdef012345-0"
    assert not is_abandoned(mine, now - 3600, now, None)
    assert is_abandoned(mine, now, now, "abcdef012345")  # own run, stopped early
    assert is_abandoned(f"{TEMP_PREFIX}999999999-abcdef012345-0", now, now, None)  # > pid_max
    assert is_abandoned(f"{TEMP_PREFIX}abcdef012345-3", now - 10, now, None)  # older keyark
    assert not is_abandoned(f"{TEMP_PREFIX}abcdef012345-3", now + 1, now, None)
    assert not is_abandoned("vault.bin", 0, now, None)
