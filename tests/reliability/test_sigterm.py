"""SIGTERM is handled like Ctrl-C: the command stops, releases its lock and leaves no
temporary files; it exits 143 (Ctrl-C keeps 130).

Before this, a backup killed by SIGTERM died at once with 143, leaving its lock object
and partial ``.tmp-*`` objects. The signal is sent on an observed event (the backup's
lock object appearing in ``locks/``, or its first data pack being stored), never on a
timer; the observation itself is the positive control (the lock was seen while the
backup was still running).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import CLI, keyark_binary

from keyark.process import EXIT_TERMINATED

#: A tree big enough that the backup is still running when the event is observed.
FILES = 24
FILE_SIZE = 2 * 1024 * 1024


def _source(root: Path) -> Path:
    root.mkdir()
    for i in range(FILES):
        (root / f"secret{i:02}.bin").write_bytes(os.urandom(FILE_SIZE))
    return root


def _wait_for(repo: Path, prefix: str, process: subprocess.Popen[bytes]) -> list[Path]:
    """Poll until an object (not a temporary one) exists below ``repo/prefix``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [
            p for p in (repo / prefix).rglob("*") if p.is_file() and not p.name.startswith(".")
        ]
        if found or process.poll() is not None:
            return found
        time.sleep(0.002)
    return []


@pytest.mark.parametrize("event", ["locks", "data"])
def test_sigterm_releases_lock_and_temp_files(cli: CLI, tmp_path: Path, event: str) -> None:
    source = _source(tmp_path / "src")
    cli.run("init", "--pack-size", "1", check=True)
    process = subprocess.Popen(
        [keyark_binary(), "backup", str(source)],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = _wait_for(cli.repo, event, process)
        running = process.poll() is None
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert seen and running, "positive control: the event was observed while the backup ran"
    assert process.returncode == EXIT_TERMINATED, err.decode()
    assert "Traceback" not in err.decode()
    assert not list((cli.repo / "locks").iterdir()), "the lock object must be deleted"
    assert not list(cli.repo.rglob(".tmp-*")), "no temporary object may be left"
    cli.run("backup", str(source), check=True)
    cli.run("check", "--read-data", check=True)
