"""Many writers and locks through the installed command.

Eight ``keyark backup`` processes with different host names write into one
repository at once while two prunes start in the middle: one without waiting
(must succeed or fail cleanly with exit 11), one with ``--retry-lock`` (must
wait its turn). The data the backups deduplicate against belongs to a
forgotten snapshot, so a prune that ran in the middle of a backup would delete
it from under the backup; ``check --read-data`` and eight exact restores prove
none did.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from tests.conftest import CLI, PASSWORD
from tests.e2e.maint_cli import assert_one_line_error, init_small, start, write_random
from tests.integration.maint_helpers import dead_pid, fake_lock

from keyark import ops
from keyark.crypto.slots import Credentials
from keyark.errors import EXIT_LOCKED

WRITERS = 8


def digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_eight_concurrent_backups_and_a_prune(cli: CLI, tmp_path: Path) -> None:
    init_small(cli)
    shared = os.urandom(1_000_000)
    sources = []
    for i in range(WRITERS):
        source = write_random(tmp_path / f"host{i}", {"own.key": 50_000 + i, "own.bin": 2_000_000})
        (source / "shared.bin").write_bytes(shared)
        sources.append(source)
    # A forgotten snapshot holds every blob the writers will deduplicate against.
    cli.run("backup", *map(str, sources), "--host", "seed", check=True)
    cli.run("forget", "latest", check=True)
    writers = [
        start(cli, "backup", str(src), "--host", f"host-{i}", "--retry-lock", "3m", "--json")
        for i, src in enumerate(sources)
    ]
    # Start the prunes while backups run: as soon as one holds its lock.
    while not any((cli.repo / "locks").iterdir()):
        assert any(w.poll() is None for w in writers), "every backup ended before locking"
        time.sleep(0.002)
    running = sum(1 for w in writers if w.poll() is None)
    impatient = start(cli, "prune", "--max-unused", "0%")
    patient = start(cli, "prune", "--max-unused", "0%", "--retry-lock", "3m")
    for process in writers:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, (out, err)
    out, err = impatient.communicate(timeout=180)
    print(f"{running} backups running at prune start; impatient prune: {impatient.returncode}")
    if impatient.returncode == EXIT_LOCKED:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "repository is locked" in lines[0] and "since" in lines[0]
    else:
        assert impatient.returncode == 0, (out, err)
    out, err = patient.communicate(timeout=180)
    assert patient.returncode == 0, (out, err)
    checked = cli.run("check", "--read-data", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"], checked.stdout
    snapshots = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert sorted(s["host"] for s in snapshots) == [f"host-{i}" for i in range(WRITERS)]
    for snapshot in snapshots:
        i = int(snapshot["host"].split("-")[1])
        target = tmp_path / "out" / snapshot["host"]
        cli.run("restore", snapshot["id"], "--target", str(target), check=True)
        restored = target / str(sources[i]).lstrip("/")
        assert digest_tree(restored) == digest_tree(sources[i])
    assert not list((cli.repo / "locks").iterdir())


def test_lock_conflicts_exit_11_naming_the_holder(cli: CLI, tmp_path: Path) -> None:
    init_small(cli)
    source = write_random(tmp_path / "src", {"a": 10_000})
    cli.run("backup", str(source), check=True)
    cli.run("backup", str(source), check=True)
    repo = ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))
    try:
        held = repo.lock("backup")  # a backup in progress
        for args in (
            ["prune"],
            ["forget", "--keep-last", "1"],
            ["repair", "index"],
            ["repair", "snapshots"],
        ):
            line = assert_one_line_error(cli.run(*args), EXIT_LOCKED)
            assert f"locked shared by backup on host {socket.gethostname()}" in line
            assert f"pid {os.getpid()}" in line and " since 20" in line, line
        cli.run("backup", str(source), check=True)  # shared locks coexist
        began = time.monotonic()
        line = assert_one_line_error(cli.run("prune", "--retry-lock", "1s"), EXIT_LOCKED)
        assert "(waited 1s)" in line and time.monotonic() - began >= 1
        waiting = start(cli, "forget", "--keep-last", "1", "--retry-lock", "1m")
        threading.Timer(1.5, held.release).start()
        out, err = waiting.communicate(timeout=90)
        assert waiting.returncode == 0 and "removed 2 snapshots" in out, (out, err)
        held = repo.lock("prune", exclusive=True)
        for args in (["backup", str(source)], ["check"]):
            line = assert_one_line_error(cli.run(*args), EXIT_LOCKED)
            assert "locked exclusively by prune" in line
        waiting = start(cli, "backup", str(source), "--retry-lock", "1m")
        threading.Timer(1.5, held.release).start()
        out, err = waiting.communicate(timeout=90)
        assert waiting.returncode == 0, (out, err)
    finally:
        repo.close()


def test_unlock_removes_stale_locks_and_all_on_request(cli: CLI) -> None:
    init_small(cli)
    repo = ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))
    try:
        fake_lock(repo, pid=dead_pid(), exclusive=True, operation="prune")
        fake_lock(repo, pid=os.getpid(), host="other-host")
    finally:
        repo.close()
    line = assert_one_line_error(cli.run("prune"), EXIT_LOCKED)
    assert "on host other-host" in line and "keyark unlock" in line
    result = cli.run("unlock", check=True)
    assert "exclusively by prune" in result.stdout and "1 lock removed" in result.stdout
    assert_one_line_error(cli.run("prune"), EXIT_LOCKED)
    removed = json.loads(cli.run("unlock", "--remove-all", "--json", check=True).stdout)
    assert [lock["host"] for lock in removed] == ["other-host"]
    assert cli.run("prune", check=True).returncode == 0
