"""Silent loss 1 of the reliability review: a killed agent backup and the next agent run.

The agent's local dedup cache recorded packs at upload time. A run killed after a pack
was stored but before any index file listed it left a cache naming that pack; the next
run deduplicated against it and saved a snapshot referencing blobs no index lists
(``check`` reported missing blobs, ``restore`` failed). An agent may dedup only against
what is durably indexed.

The kill lands deterministically: the agent backup runs in a subprocess whose index
writer blocks (after touching a marker file) instead of writing, so the test observes
the marker, checks that a pack is stored and no index file was written, and SIGKILLs.
The positive controls: the killed run had really stored a pack (whose blobs the second
run's snapshot uses: the scenario is the one from the issue), and the cache left by the
kill does not name that pack.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CLI, PASSWORD, keyark_binary, tree_state

from keyark import ops
from keyark.crypto.slots import Credentials
from keyark.repo.pack import pack_id_from_name
from keyark.repo.repository import Repository
from keyark.repo.tree import DIR, FILE

#: Runs the real CLI with an index writer that announces itself and never returns.
BLOCKING_INDEX_WRITER = """
import sys, threading
from pathlib import Path
import keyark.repo.packer as packer
from keyark.cli.main import run

def blocked(*args, **kwargs):
    Path(MARKER).touch()
    threading.Event().wait()

MARKER = sys.argv.pop(1)
packer.write_index_file = blocked
sys.argv[0] = "keyark"
run()
"""


def _agent_env(cli: CLI, credential: Path) -> dict[str, str]:
    env = dict(cli.env, KEYARK_AGENT_CREDENTIAL=str(credential))
    env.pop("KEYARK_PASSWORD")
    return env


def _objects(repo: Path, prefix: str) -> set[str]:
    return {
        str(p.relative_to(repo))
        for p in (repo / prefix).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def _wait_for_marker(marker: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the agent backup never reached its index write"
        time.sleep(0.005)


def _snapshot_blobs(repo: Repository, tree_id: bytes) -> set[bytes]:
    """Every blob id (trees and file content) the tree ``tree_id`` references."""
    found = {tree_id}
    for node in repo.blobs.load_tree(tree_id):
        if node.type == DIR and node.subtree is not None:
            found |= _snapshot_blobs(repo, node.subtree)
        elif node.type == FILE:
            found.update(node.content)
    return found


def test_killed_agent_backup_then_resume_is_restorable(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", "--pack-size", "1", check=True)
    credential = tmp_path / "web1.cred"
    cli.run("agent", "add", "web1", "--out", str(credential), check=True)
    source = tmp_path / "src"
    source.mkdir()
    for i in range(6):
        (source / f"secret{i}.bin").write_bytes(os.urandom(700_000))
    env = _agent_env(cli, credential)

    marker = tmp_path / "index-write-reached"
    process = subprocess.Popen(
        [sys.executable, "-c", BLOCKING_INDEX_WRITER, str(marker), "backup", str(source)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_marker(marker, process)
        killed_packs = _objects(cli.repo, "data")
        # Where the kill lands: a pack is stored, no index file lists it yet.
        assert killed_packs and not _objects(cli.repo, "index")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL

    with ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode())) as repo:
        repo_id = repo.repo_id
    cache = cli.cache / repo_id / "agent-web1.sqlite"
    assert cache.exists()
    with sqlite3.connect(cache) as db:
        cached = {bytes(row[0]) for row in db.execute("SELECT id FROM packs")}
    killed_ids = {pack_id_from_name(name) for name in killed_packs}
    # The mechanism: nothing the killed run stored (unindexed) is dedup-able.
    assert not cached & killed_ids, "the cache names packs no index lists"

    second = subprocess.run(
        [keyark_binary(), "backup", str(source)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert second.returncode == 0, second.stderr

    checked = cli.run("check", "--read-data")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    target = tmp_path / "restored"
    cli.run("restore", "latest", "--target", str(target), check=True)
    assert tree_state(target / str(source).lstrip("/")) == tree_state(source)

    with ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode())) as repo:
        repo.blobs.load_index()
        [snapshot] = [repo.snapshots.load(i) for i in repo.snapshots.ids()]
        used = _snapshot_blobs(repo, snapshot.tree)
        uploaded_by_killed_run = {
            entry.blob_id
            for pack_id in killed_ids
            if pack_id is not None
            for entry in repo.blobs.read_pack_header(pack_id)
        }
        # The scenario is the issue's: the new snapshot needs content the killed run stored.
        assert used & uploaded_by_killed_run
        # Agent index files after every pack: their overhead is small (measured here).
        index_bytes = sum(p.stat().st_size for p in (cli.repo / "index").rglob("*"))
        data_bytes = sum(p.stat().st_size for p in (cli.repo / "data").rglob("*") if p.is_file())
        assert index_bytes < data_bytes / 200, (index_bytes, data_bytes)
