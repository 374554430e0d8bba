"""The daemon's process plumbing: pid file, one instance, background start, stop, status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyark.daemon.process import (
    InstanceLock,
    PidFile,
    StartError,
    process_alive,
    start_background,
    status,
    stop,
)
from keyark.errors import DaemonError

#: A stand-in daemon: writes its pid file once "ready", exits 0 on SIGTERM. Its command line
#: holds the word keyark (as a real daemon's does), which process_alive looks for.
FAKE_DAEMON = """
import os, signal, sys, time
pid_file, mode = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("fake daemon starting", flush=True)
if mode == "die":
    print("cannot open the repository", flush=True)
    sys.exit(4)
if mode == "ready":
    tmp = pid_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\\n")
    os.replace(tmp, pid_file)
while True:
    time.sleep(0.05)
"""


def fake_argv(tmp_path: Path, pid_file: Path, mode: str) -> list[str]:
    script = tmp_path / "keyark-fake-daemon.py"
    script.write_text(FAKE_DAEMON)
    return [sys.executable, str(script), str(pid_file), mode]


def test_pid_file_written_atomically_0600_and_removed_only_by_its_owner(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "state" / "daemon.pid")
    assert pid_file.read() is None and pid_file.running() is None
    pid_file.write(os.getpid())
    assert pid_file.read() == os.getpid()
    assert (pid_file.path.stat().st_mode & 0o777) == 0o600
    assert (pid_file.path.parent.stat().st_mode & 0o777) == 0o700
    assert [p.name for p in pid_file.path.parent.iterdir()] == ["daemon.pid"]  # no temp left
    pid_file.remove(os.getpid() + 1)  # another daemon's pid: not ours to remove
    assert pid_file.path.exists()
    pid_file.remove(os.getpid())
    assert not pid_file.path.exists()


def test_a_dead_or_foreign_pid_does_not_count_as_running(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file = PidFile(tmp_path / "daemon.pid")
    pid_file.write(dead.pid)
    assert pid_file.running() is None
    found = status(pid_file)
    assert not found.running and found.stale and found.pid is None
    # a live process that is not keyark (a recycled pid) does not count either
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        command = Path(f"/proc/{sleeper.pid}/cmdline")
        while b"sleep" not in command.read_bytes():  # its exec is under way
            time.sleep(0.01)
        pid_file.write(sleeper.pid)
        assert not process_alive(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    named = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "keyark"])
    try:
        assert process_alive(named.pid)  # positive control: a live keyark-named process counts
    finally:
        named.kill()
        named.wait()


def test_instance_lock_refuses_a_second_daemon_until_the_first_ends(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "daemon.pid")
    pid_file.write(os.getpid())
    first = InstanceLock(pid_file)
    first.acquire()
    with pytest.raises(DaemonError, match=f"pid {os.getpid()}"):
        InstanceLock(pid_file).acquire()
    first.release()
    with InstanceLock(pid_file):  # free again
        pass
    assert (first.path.stat().st_mode & 0o777) == 0o600


def test_instance_lock_is_dropped_when_its_holder_is_killed(tmp_path: Path) -> None:
    """kill -9 leaves no stale lock: the kernel drops a dead process's flock."""
    pid_file = PidFile(tmp_path / "daemon.pid")
    lock_path = tmp_path / "daemon.pid.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(lock_path)!r}, os.O_CREAT | os.O_RDWR, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(DaemonError):
        InstanceLock(pid_file).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with InstanceLock(pid_file):
        pass


def test_start_background_returns_the_pid_once_ready_and_stop_ends_it(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "daemon.pid")
    log = tmp_path / "daemon.log"
    pid = start_background(
        fake_argv(tmp_path, pid_file.path, "ready"), pid_file=pid_file, log_file=log, timeout=20
    )
    try:
        assert pid_file.read() == pid and process_alive(pid)
        assert os.getsid(pid) == pid  # its own session: no terminal signal reaches it
        assert "fake daemon starting" in log.read_text()
        assert (log.stat().st_mode & 0o777) == 0o600
        found = status(pid_file)
        assert found.running and found.pid == pid and found.uptime is not None
        with pytest.raises(DaemonError, match="running already"):
            start_background(
                fake_argv(tmp_path, pid_file.path, "ready"),
                pid_file=pid_file,
                log_file=log,
                timeout=5,
            )
        result = stop(pid_file, timeout=20)
        assert result.pid == pid and result.stopped
        assert not process_alive(pid)
    finally:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert stop(pid_file).pid is None  # nothing to stop: not an error


def test_start_background_reports_a_daemon_that_dies_with_its_log(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "daemon.pid")
    log = tmp_path / "daemon.log"
    log.write_text("an older run's line\n")
    with pytest.raises(StartError, match="exited with status 4") as caught:
        start_background(
            fake_argv(tmp_path, pid_file.path, "die"), pid_file=pid_file, log_file=log, timeout=20
        )
    assert caught.value.log == ["fake daemon starting", "cannot open the repository"]


def test_start_background_gives_up_on_a_daemon_that_never_gets_ready(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "daemon.pid")
    began = time.monotonic()
    with pytest.raises(StartError, match="did not report ready within 1s") as caught:
        start_background(
            fake_argv(tmp_path, pid_file.path, "hang"),
            pid_file=pid_file,
            log_file=tmp_path / "daemon.log",
            timeout=1,
        )
    assert time.monotonic() - began < 10
    pid = int(str(caught.value).split("(pid ")[1].split(")")[0])
    os.kill(pid, signal.SIGKILL)


def test_stop_says_when_the_daemon_outlives_the_timeout(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "daemon.pid")
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\ntime.sleep(60)\n",
            "keyark",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
        pid_file.write(stubborn.pid)
        result = stop(pid_file, timeout=0.5)
        assert result.pid == stubborn.pid and not result.stopped
    finally:
        stubborn.kill()
        stubborn.wait()
