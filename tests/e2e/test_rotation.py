"""Data-key rotation and re-encryption, end to end."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import CLI, PASSWORD, keyark_binary, make_tree, tree_state

from keyark import ops
from keyark.backends.local import LocalBackend
from keyark.crypto.envelope import KEY_ID_SIZE, ObjectKind, Sealer
from keyark.crypto.slots import Credentials
from keyark.errors import IntegrityError


def _open(cli: CLI) -> ops.Repository:  # type: ignore[name-defined]
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
    retired = repo.keyring.current.key
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


def test_reencrypt_survives_kill_9(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", "--pack-size", "1", check=True)
    sources = _sources(tmp_path, 4)
    for source in sources:
        cli.run("backup", str(source), check=True)
    rng = random.Random(7)
    for _ in range(8):
        process = subprocess.Popen(
            [keyark_binary(), "key", "rotate", "--reencrypt"],
            env=cli.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.15, 0.9))
        process.send_signal(signal.SIGKILL)
        process.wait()
        cli.run("unlock", check=True)  # the killed process left its lock behind
        checked = cli.run("check", "--read-data")
        assert checked.returncode == 0, checked.stdout + checked.stderr
    cli.run("key", "rotate", "--reencrypt", check=True)
    status = json.loads(cli.run("key", "status", "--json", check=True).stdout)
    assert len(status["epochs"]) == 1 and not status["reencrypt_pending"]
    cli.run("check", "--read-data", check=True)
    for snap, source in zip(
        json.loads(cli.run("snapshots", "--json").stdout), sources, strict=True
    ):
        target = tmp_path / f"out-{snap['short_id']}"
        cli.run("restore", snap["id"], "--target", str(target), "--verify", check=True)
        assert tree_state(target / source.relative_to("/")) == tree_state(source)


def test_rotation_due_warns_and_auto_rotates(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    source = make_tree(tmp_path / "src")
    repo = _open(cli)
    old = repo.keyring.current
    old.created = (datetime.now(UTC) - timedelta(days=85)).isoformat(timespec="seconds")
    repo.save_keyring()
    repo.close()
    warned = cli.run("backup", str(source), check=True)
    assert "85 days old" in warned.stderr
    old_created = datetime.now(UTC) - timedelta(days=95)
    repo = _open(cli)
    repo.keyring.current.created = old_created.isoformat(timespec="seconds")
    repo.save_keyring()
    repo.close()
    due = cli.run("backup", str(source), check=True)
    assert "key rotate" in due.stderr
    rotated = cli.run("backup", str(source), "--auto-rotate", check=True)
    assert "rotated" in rotated.stderr
    status = json.loads(cli.run("key", "status", "--json", check=True).stdout)
    assert [e["state"] for e in status["epochs"]] == ["retired", "current"]
    assert not status["due"]
    assert len(status["epochs"][1]["id"]) == 2 * KEY_ID_SIZE
