"""``keyark browse`` in a real terminal: tmux at 80x24 drives the installed command through a
complete restore by keyboard, reading the screen with ``capture-pane``."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import CLI, keyark_binary


class Terminal:
    """One tmux session (its own server socket) running one command."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket = socket
        self.env = env

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "t", *(["-l"] if literal else []), *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait(self, found: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        """The screen once ``found(screen)`` holds (polled; bounded)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            shown = self.screen()
            if found(shown):
                return shown
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{self.screen()}")


@pytest.fixture
def terminal(cli: CLI) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing; make test installs it (scripts/install-test-servers.sh)")
        pytest.skip("tmux is not installed")
    term = Terminal(f"keyark-{uuid.uuid4().hex[:8]}", {**cli.env, "TERM": "xterm-256color"})
    yield term
    subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, check=False)


@pytest.mark.parametrize("verb", ["browse", "restore --interactive"])
def test_restore_marked_file_in_80x24(
    cli: CLI, terminal: Terminal, tmp_path: Path, verb: str
) -> None:
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "server.key").write_bytes(b"key material\n" * 40)
    (source / "tls" / "server.crt").write_bytes(b"a certificate\n")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    target = tmp_path / "target"
    status = tmp_path / "status"
    # `restore --interactive --target DIR` fills the target in; `browse` leaves it to the user.
    given = f" --target {shlex.quote(str(target))}" if verb != "browse" else ""
    command = f"{shlex.quote(keyark_binary())} {verb}{given}; echo $? > {shlex.quote(str(status))}"
    terminal.tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", command)

    terminal.wait(lambda s: "1 snapshot(s)" in s, "the snapshot list")
    terminal.keys("Enter")
    terminal.wait(lambda s: "entries" in s and "marked" in s, "the tree")
    terminal.keys("/")
    terminal.wait(lambda s: "search: type a name pattern" in s, "the search box")
    terminal.keys("server.key", literal=True)
    terminal.keys("Enter")
    terminal.wait(lambda s: "search server.key" in s, "the search hits")
    terminal.keys("Space")
    terminal.wait(lambda s: "1 marked" in s, "the mark")
    terminal.keys("r")
    terminal.wait(lambda s: "Enter the target" in s, "the restore screen")
    if not given:
        terminal.keys(str(target), literal=True)
    terminal.keys("C-p")
    preview = terminal.wait(lambda s: "Ctrl+R restores" in s, "the preview")
    assert "Nothing existing would be overwritten" in preview
    terminal.keys("C-r")
    terminal.wait(lambda s: "Restored 1 file(s)" in s, "the restore")
    terminal.keys("q")
    end = time.monotonic() + 30
    while not status.exists() and time.monotonic() < end:
        time.sleep(0.2)
    assert status.read_text().strip() == "0"
    restored = target / str(source).lstrip("/") / "tls"
    assert (restored / "server.key").read_bytes() == b"key material\n" * 40
    assert not (restored / "server.crt").exists()  # positive control: not marked


def test_browse_refuses_without_a_terminal(cli: CLI) -> None:
    result = cli.run("browse")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "keyark: the interactive browser needs a terminal; use ls, find and restore"
    ]
