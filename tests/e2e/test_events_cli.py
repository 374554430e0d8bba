"""The CLI's ``--json`` event stream, its error line and Ctrl-C (issue 10 §3, §4).

With ``--json`` stdout carries the result document (for ``backup``, after restic's
``status`` lines) and stderr carries
the operation's events as JSON lines: ``started``, ``progress``, ``warning`` (with a
stable code), ``finished``. Errors are one JSON line with a code, a hint and the CLI's
advice. SIGINT is sent when the first progress event with bytes done is observed on
that stream (not on a timer): the command exits 130 and leaves no lock.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.conftest import CLI, keyark_binary
from tests.json_lines import json_lines

from keyark.errors import EXIT_INTERRUPTED, EXIT_WRONG_PASSWORD


def _events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def test_json_streams_events_on_stderr_and_keeps_stdout(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "server.key").write_bytes(os.urandom(200_000))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(source / "agent.sock"))  # skipped on purpose: a warning with a code
    cli.run("init", check=True)
    done = cli.run("backup", str(source), "--json")
    listener.close()
    assert done.returncode == 0, done.stderr
    # restic's stream on stdout: status lines while it runs, then the summary line
    lines = json_lines(done.stdout)
    summary = lines[-1]
    assert summary["message_type"] == "summary" and summary["files_new"] == 1
    assert {line["message_type"] for line in lines[:-1]} == {"status"} and lines[:-1]
    events = _events(done.stderr)  # every stderr line is JSON
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished" and "progress" in kinds
    warning = next(e for e in events if e["event"] == "warning")
    assert warning["code"] == "source.skipped" and warning["message_type"] == "warning"
    assert "agent.sock" in str(warning["message"])
    finished = events[-1]
    assert isinstance(finished["result"], dict)
    assert finished["result"]["snapshot_id"] == summary["snapshot_id"]


def test_json_errors_are_one_line_with_code_and_hint(cli: CLI) -> None:
    cli.run("init", check=True)
    wrong = cli.run("snapshots", "--json", env={"KEYARK_PASSWORD": "not the passphrase"})
    assert wrong.returncode == EXIT_WRONG_PASSWORD
    error = _events(wrong.stderr)[-1]
    assert error["message_type"] == "error" and error["code"] == "wrong_password"
    assert error["hint"] == "passphrase" and "KEYARK_PASSWORD" in str(error["advice"])
    plain = cli.run("snapshots", env={"KEYARK_PASSWORD": "not the passphrase"})
    line = plain.stderr.strip()
    assert line.startswith("keyark: ") and "KEYARK_PASSWORD" in line and "\n" not in line


def test_ctrl_c_on_an_observed_progress_event_exits_130_and_releases_the_lock(
    cli: CLI, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(16):
        (source / f"secret{i:02}.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    cli.run("init", "--pack-size", "1", check=True)
    process = subprocess.Popen(
        [keyark_binary(), "backup", str(source), "--json"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    observed = None
    for line in process.stderr:
        event = json.loads(line)
        if event.get("event") == "progress" and int(str(event.get("bytes_done", 0))) > 0:
            observed = event
            process.send_signal(signal.SIGINT)
            break
    rest = process.communicate(timeout=120)[1]
    assert observed is not None, "no progress event with bytes done was seen"  # the control
    assert process.returncode == EXIT_INTERRUPTED, rest
    assert not [p for p in (cli.repo / "locks").iterdir()], "the lock was left behind"
    assert not list(cli.repo.rglob(".tmp-*"))
    assert cli.run("check").returncode == 0
