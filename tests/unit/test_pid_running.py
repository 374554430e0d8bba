"""A zombie is not a running process: a killed daemon its parent has not reaped yet must
not keep its run 'running' or its lock live (seen as a restarted daemon that never caught
up the killed run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from keyark.process import pid_running


def test_a_zombie_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for it to end without reaping it
            with open(f"/proc/{child.pid}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
            if state == b"Z" or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert state == b"Z"
        os.kill(child.pid, 0)  # positive control: the signal test alone calls it alive
        assert not pid_running(child.pid)
    finally:
        child.wait()
    assert not pid_running(child.pid)


def test_a_live_process_is_running() -> None:
    assert pid_running(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_running(child.pid)
    finally:
        child.kill()
        child.wait()
