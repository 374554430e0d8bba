"""Data-key rotation and re-encryption, end to end."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import CLI, PASSWORD, keyark_binary, make_tree, tree_state

from keyark import ops
from keyark.backends.local import LocalBackend
from keyark.crypto.envelope import KEY_ID_SIZE, ObjectKind, Sealer
from keyark.crypto.slots import Credentials
from keyark.errors import IntegrityError
from keyark.repo.repository import Repository


def _open(cli: CLI) -> Repository:
    return ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))


def _sources(tmp_path: Path, count: int) -> list[Path]:
    sources = []
    for i in range(count):
        source = make_tree(tmp_path / f"src{i}")
        (source / "unique.txt").write_text(f"version {i}\n" * (i + 1))
        sources.append(source)
    return sources


def test_reencrypt_is_real(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", "--pack-size", "1", check=True)
    sources = _sources(tmp_path, 3)
    for source in sources:
        cli.run("backup", str(source), check=True)
    repo = _open(cli)
    retired = repo.keys.keyring.current.key
    repo.close()
    status = json.loads(cli.run("key", "status", "--json", check=True).stdout)
    assert status["epochs"][0]["id"] == retired.key_id.hex() and status["epochs"][0]["objects"] > 0
    result = json.loads(cli.run("key", "rotate", "--reencrypt", "--json", check=True).stdout)
    assert retired.key_id.hex() in result["retired_keys_removed"]
    status = json.loads(cli.run("key", "status", "--json", check=True).stdout)
    assert [e["id"] for e in status["epochs"]] == [result["target_key"]]
    # No stored object names the retired key id, and the retired key opens nothing.
    backend = LocalBackend(cli.repo)
    sealer = Sealer(retired)
    for info in backend.list(""):
        data = backend.get(info.name)
        assert retired.key_id not in data[:64], info.name
        if info.name.startswith("data/"):
            candidates = [data[i : i + 64] for i in range(0, len(data) - 64, 997)]
        else:
            candidates = [data]
        for candidate in candidates:
            for kind in ObjectKind:
                try:
                    sealer.open(kind, b"", candidate)
                except IntegrityError:
                    continue
                raise AssertionError(f"the retired key opened {info.name}")
    cli.run("check", "--read-data", check=True)
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    for snap, source in zip(snaps, sources, strict=True):
        target = tmp_path / f"out-{snap['short_id']}"
        cli.run("restore", snap["id"], "--target", str(target), "--verify", check=True)
        assert tree_state(target / source.relative_to("/")) == tree_state(source)


def _rotation_listing(repo: Path) -> dict[str, int]:
    """Objects re-encryption writes or deletes (temporary files too): name -> size."""
    found: dict[str, int] = {}
    for top in ("data", "index", "snapshots"):
        for dirpath, _dirs, files in os.walk(repo / top):
            for name in files:
                try:
                    found[os.path.join(dirpath, name)] = os.stat(
                        os.path.join(dirpath, name)
                    ).st_size
                except FileNotFoundError:
                    continue
    try:
        found["keyring"] = os.stat(repo / "keyring").st_mtime_ns
    except FileNotFoundError:
        pass
    return found


RotationTrigger = Callable[[dict[str, int], dict[str, int]], bool]


def _appeared(top: str) -> RotationTrigger:
    return lambda before, now: any(
        f"/{top}/" in n and not os.path.basename(n).startswith(".tmp-") for n in now.keys() - before
    )


def _vanished(top: str) -> RotationTrigger:
    return lambda before, now: any(f"/{top}/" in n for n in before.keys() - now)


#: Repository events observed from outside while ``key rotate --reencrypt`` runs.
ROTATION_TRIGGERS: dict[str, RotationTrigger] = {
    "upload in flight": lambda b, n: any(
        os.path.basename(x).startswith(".tmp-") for x in n.keys() - b
    ),
    "re-encrypted pack written": _appeared("data"),
    "new index written": _appeared("index"),
    "snapshot re-sealed": _appeared("snapshots"),
    "old pack deleted": _vanished("data"),
    "old index deleted": _vanished("index"),
    "keyring saved": lambda b, n: b.get("keyring") != n.get("keyring"),
}


def _kill_rotation(cli: CLI, rng: random.Random, trigger: str) -> tuple[int, bool]:
    """Start ``key rotate --reencrypt``, SIGKILL it when ``trigger`` is observed."""
    before = _rotation_listing(cli.repo)
    process = subprocess.Popen(
        [keyark_binary(), "key", "rotate", "--reencrypt"],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fired = False
    while process.poll() is None:
        if ROTATION_TRIGGERS[trigger](before, _rotation_listing(cli.repo)):
            fired = True
            time.sleep(rng.uniform(0, 0.005))
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.0005)
    process.wait()
    return process.returncode, fired


def test_reencrypt_survives_kill_9(cli: CLI, tmp_path: Path) -> None:
    """Kills land inside re-encryption, on observed repository events, never on a timer."""
    cli.run("init", "--pack-size", "1", check=True)
    rng = random.Random(7)
    sources = []
    outcomes: list[tuple[str, int, bool]] = []
    for round_, trigger in enumerate(list(ROTATION_TRIGGERS)):
        # Fresh data under the current key each round, so every rotation has packs to rewrite.
        source = tmp_path / f"src{round_}"
        source.mkdir()
        for i in range(12):
            (source / f"f{i}.bin").write_bytes(random.Random(round_ * 100 + i).randbytes(200_000))
        cli.run("backup", str(source), check=True)
        sources.append(source)
        status, fired = _kill_rotation(cli, rng, trigger)
        outcomes.append((trigger, status, fired))
        cli.run("unlock", check=True)  # the killed process left its lock behind
        checked = cli.run("check", "--read-data")
        assert checked.returncode == 0, (trigger, checked.stdout + checked.stderr)
    print(outcomes)
    killed = [o for o in outcomes if o[1] == -signal.SIGKILL and o[2]]
    # Where the kills landed: most rounds inside re-encryption, in several different phases.
    assert len(killed) >= len(outcomes) // 2, outcomes
    assert len({trigger for trigger, _, _ in killed}) >= 4, outcomes
    cli.run("key", "rotate", "--reencrypt", check=True)
    status = json.loads(cli.run("key", "status", "--json", check=True).stdout)
    assert not status["reencrypt_pending"], status
    cli.run("check", "--read-data", check=True)
    snaps = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert len(snaps) == len(sources)
    for snap, source in zip(snaps, sources, strict=True):
        target = tmp_path / f"out-{snap['short_id']}"
        cli.run("restore", snap["id"], "--target", str(target), "--verify", check=True)
        assert tree_state(target / source.relative_to("/")) == tree_state(source)


def test_rotation_due_warns_and_auto_rotates(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    source = make_tree(tmp_path / "src")
    repo = _open(cli)
    old = repo.keys.keyring.current
    old.created = (datetime.now(UTC) - timedelta(days=85)).isoformat(timespec="seconds")
    repo.keys.save_keyring()
    repo.close()
    warned = cli.run("backup", str(source), check=True)
    assert "85 days old" in warned.stderr
    old_created = datetime.now(UTC) - timedelta(days=95)
    repo = _open(cli)
    repo.keys.keyring.current.created = old_created.isoformat(timespec="seconds")
    repo.keys.save_keyring()
    repo.close()
    due = cli.run("backup", str(source), check=True)
    assert "key rotate" in due.stderr
    rotated = cli.run("backup", str(source), "--auto-rotate", check=True)
    assert "rotated" in rotated.stderr
    status = json.loads(cli.run("key", "status", "--json", check=True).stdout)
    assert [e["state"] for e in status["epochs"]] == ["retired", "current"]
    assert not status["due"]
    assert len(status["epochs"][1]["id"]) == 2 * KEY_ID_SIZE
