"""``kill -9`` of ``keyark prune`` at many points: the repository always stays consistent.

Each round adds garbage (a backup that rewrites some files, then ``forget``),
starts ``keyark prune --max-unused 0%`` (so every partly used pack is
repacked) and SIGKILLs it. Prune's own work takes a few tens of milliseconds
after a few hundred of interpreter start-up, so a purely timed kill would mostly
hit start-up: instead each round picks a trigger observed from outside in the
repository directory — a temporary pack file appears (an upload is in flight),
a new pack or index file appears, an old index file or pack disappears — or a
plain timer, and kills after a further random delay. After every kill,
``check --read-data`` passes and every remaining snapshot restores exactly;
then a new prune finishes the job (nothing unused and no stray packs remain).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import CLI
from tests.e2e.maint_cli import backup_json, init_small, start, write_random

ROUNDS = 15
FILES = 24

Names = set[str]
Trigger = Callable[[Names, Names], bool]


def listing(repo: Path) -> Names:
    """Names under data/ and index/ (temporary files included)."""
    found: Names = set()
    for top in ("data", "index"):
        for dirpath, _dirs, files in os.walk(repo / top):
            found.update(os.path.join(dirpath, name) for name in files)
    return found


def _is_tmp(name: str) -> bool:
    return os.path.basename(name).startswith(".tmp-")


TRIGGERS: dict[str, Trigger] = {
    "timer": lambda _before, _now: False,
    "upload in flight": lambda before, now: any(_is_tmp(n) for n in now - before),
    "new pack": lambda before, now: any("/data/" in n and not _is_tmp(n) for n in now - before),
    "new index": lambda before, now: any("/index/" in n and not _is_tmp(n) for n in now - before),
    "old index deleted": lambda before, now: any("/index/" in n for n in before - now),
    "old pack deleted": lambda before, now: any("/data/" in n for n in before - now),
}


def kill_prune(cli: CLI, rng: random.Random, trigger: str) -> tuple[int, bool]:
    """Run prune, SIGKILL it at the trigger; return (exit status, whether the trigger fired)."""
    before = listing(cli.repo)
    timer = rng.uniform(0.15, 0.45)
    process = start(cli, "prune", "--max-unused", "0%")
    began = time.monotonic()
    fired = False
    while process.poll() is None:
        if TRIGGERS[trigger](before, listing(cli.repo)) or (
            trigger == "timer" and time.monotonic() - began > timer
        ):
            fired = True
            time.sleep(rng.uniform(0, 0.01))
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.0005)
    process.communicate(timeout=60)
    return process.returncode, fired


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_consistent(
    cli: CLI, tmp_path: Path, expected: dict[str, dict[str, str]], restore: list[str]
) -> None:
    """check --read-data passes; the ``restore`` snapshots restore exactly."""
    checked = cli.run("check", "--read-data", "--json")
    assert checked.returncode == 0, (checked.stdout, checked.stderr)
    assert json.loads(checked.stdout)["ok"]
    for snapshot_id in restore:
        target = tmp_path / "restore" / f"{snapshot_id[:8]}-{time.monotonic_ns()}"
        cli.run("restore", snapshot_id, "--target", str(target), check=True)
        restored = target / str(tmp_path / "src").lstrip("/")
        assert file_hashes(restored) == expected[snapshot_id], snapshot_id


@pytest.mark.slow
def test_prune_killed_at_random_points(cli: CLI, tmp_path: Path) -> None:
    seed = int(os.environ.get("KEYARK_TEST_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    init_small(cli)
    source = tmp_path / "src"
    write_random(source, {f"d{i % 4}/f{i}": 60_000 + i * 7_000 for i in range(FILES)})
    expected: dict[str, dict[str, str]] = {}
    outcomes: list[tuple[str, int, bool]] = []
    order = list(TRIGGERS)
    kept: list[str] = []
    for round_ in range(-3, ROUNDS):  # three rounds of history first: then each has garbage
        changed = rng.sample(range(FILES), FILES // 3)
        write_random(source, {f"d{i % 4}/f{i}": 60_000 + i * 7_000 for i in changed})
        summary = backup_json(cli, str(source))
        expected[summary["snapshot_id"]] = file_hashes(source)
        if round_ < 0:
            continue
        groups = json.loads(cli.run("forget", "--keep-last", "3", "--json", check=True).stdout)
        kept = [s["id"] for group in groups for s in group["keep"]]
        trigger = order[round_ % len(order)]
        status, fired = kill_prune(cli, rng, trigger)
        outcomes.append((trigger, status, fired))
        context = f"seed {seed}, round {round_}, trigger {trigger}, status {status}"
        assert status in (0, -signal.SIGKILL), context
        # Every blob of every snapshot decrypts and verifies; one snapshot (in turn,
        # oldest first: its blobs are the ones being repacked) is restored and compared.
        assert_consistent(cli, tmp_path, expected, [kept[-1 - round_ % len(kept)]])
        # Running prune again finishes the job.
        cli.run("prune", "--max-unused", "0%", check=True)
        if round_ % 3 == 2:
            left = json.loads(cli.run("prune", "--dry-run", "--json", check=True).stdout)
            assert left["plan"]["unused_bytes"] == 0, context
            assert left["plan"]["unindexed_packs"] == 0, context
    print(f"seed {seed}: {outcomes}")
    killed = [o for o in outcomes if o[1] == -signal.SIGKILL and o[2]]
    # Most rounds must really have been killed, in several different phases.
    assert len(killed) >= ROUNDS // 2, (seed, outcomes)
    assert len({trigger for trigger, _, _ in killed}) >= 4, (seed, outcomes)
    assert_consistent(cli, tmp_path, expected, kept)
