"""``keyark rollback`` and ``keyark restore-points`` (issue 17 §2), run as the installed command.

The kill test kills ``keyark restore`` with SIGKILL once it is observed writing into the
target (a temporary restore file appears there), never on a timer; ``keyark rollback``
then puts the tree back byte for byte (contents, modes, modification times).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import CLI, keyark_binary, tree_state
from tests.json_lines import last_json

from keyark.restorer.leftovers import TEMP_PREFIX

MIB = 1024 * 1024


def _backup(cli: CLI, source: Path) -> str:
    cli.run("init", "--pack-size", "1", check=True)
    done = cli.run("backup", str(source), "--json", check=True)
    return str(last_json(done.stdout)["snapshot_id"])


def _target(root: Path, names: list[str]) -> Path:
    """An existing tree with older versions of ``names`` and a file of its own."""
    for index, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"old {index}\n".encode())
        os.chmod(path, 0o640)
        os.utime(path, ns=(1_500_000_000_000_000_000 + index, 1_500_000_000_000_000_000 + index))
    (root / "own.txt").write_text("the target's own file\n")
    return root


def _points(cli: CLI) -> list[dict[str, object]]:
    listed = cli.run("restore-points", "list", "--json", check=True)
    points = json.loads(listed.stdout)
    assert isinstance(points, list)
    return points


def _temp_file_in(target: Path) -> bool:
    return any(p.name.startswith(TEMP_PREFIX) for p in target.rglob("*"))


def _interrupted_restore(
    cli: CLI, tmp_path: Path, sig: int
) -> tuple[str, Path, dict[str, tuple[object, ...]], subprocess.Popen[bytes]]:
    """A restore over an existing tree, sent ``sig`` once it is seen writing into it."""
    source = tmp_path / "src"
    names = [f"keys/k{i:02}.bin" for i in range(12)]
    for name in names:
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(MIB))
    snapshot = _backup(cli, source)
    target = _target(tmp_path / "out", [*names, "keys/only-here.pem"])
    before = tree_state(target)
    process = subprocess.Popen(
        [keyark_binary(), "restore", f"{snapshot}:{source}", "--target", str(target)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if _temp_file_in(target):
            break  # the restore is writing into the target (after its restore point)
        time.sleep(0.001)
    process.send_signal(sig)
    process.wait()
    return snapshot, target, before, process


def test_sigterm_during_restore_rolls_back_at_once(cli: CLI, tmp_path: Path) -> None:
    _snapshot, target, before, process = _interrupted_restore(cli, tmp_path, signal.SIGTERM)
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    assert process.returncode == 143, stderr  # positive control: it was stopped mid-restore
    assert "rolled back to restore point" in stderr
    assert tree_state(target) == before
    assert not _temp_file_in(target)


def test_kill_9_during_restore_then_rollback(cli: CLI, tmp_path: Path) -> None:
    snapshot, target, before, process = _interrupted_restore(cli, tmp_path, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL, "positive control: killed mid-restore"
    assert tree_state(target) != before, "positive control: the killed restore changed the tree"
    [point] = _points(cli)
    assert point["target"] == str(target) and point["restored_snapshot"] == snapshot
    rolled = cli.run("rollback", "--target", str(target), "--json", check=True)
    result = last_json(rolled.stdout)
    assert result["restore_point"] == point["id"]
    assert tree_state(target) == before
    assert not _temp_file_in(target)


def test_restore_point_unless_no_restore_point(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "a.crt").write_text("new\n")
    snapshot = _backup(cli, source)
    ref = f"{snapshot}:{source}"
    plain = _target(tmp_path / "plain", ["tls/a.crt"])
    done = cli.run("restore", ref, "--target", str(plain), "--no-restore-point", "--json")
    assert done.returncode == 0 and last_json(done.stdout)["restore_point"] is None
    assert _points(cli) == []
    # Positive control: the same restore without the flag takes one.
    saved = _target(tmp_path / "saved", ["tls/a.crt"])
    before = tree_state(saved)
    done = cli.run("restore", ref, "--target", str(saved), "--json", check=True)
    assert last_json(done.stdout)["restore_point"]
    assert len(_points(cli)) == 1
    shown = cli.run("snapshots", check=True).stdout
    assert "restore-point" in shown  # listed, tagged
    cli.run("rollback", str(last_json(done.stdout)["restore_point"])[:8], check=True)
    assert tree_state(saved) == before


def test_damaged_blob_rolls_back_and_says_so(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "big.bin").write_bytes(os.urandom(200_000))
    snapshot = _backup(cli, source)
    for pack in (cli.repo / "data").rglob("*"):  # flip a byte inside every pack's blobs
        if pack.is_file():
            header = json.loads(cli.run("debug", "cat", "pack", pack.name, check=True).stdout)
            data = bytearray(pack.read_bytes())
            for blob in header["blobs"]:
                if blob["type"] == "data":
                    data[blob["offset"] + blob["length"] // 2] ^= 1
            pack.write_bytes(bytes(data))
    target = _target(tmp_path / "out", ["tls/big.bin"])
    before = tree_state(target)
    result = cli.run("restore", f"{snapshot}:{source}", "--target", str(target), "--verify")
    assert result.returncode == 1
    assert "rolled back to restore point" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree_state(target) == before


def test_restore_points_forget_keep_last(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "a.crt").write_text("new\n")
    snapshot = _backup(cli, source)
    target = tmp_path / "out"
    for round_ in range(3):
        _target(target, ["tls/a.crt"])
        (target / "tls" / "a.crt").write_text(f"changed {round_}\n")
        cli.run("restore", f"{snapshot}:{source}", "--target", str(target), check=True)
    points = _points(cli)
    assert len(points) == 3
    dry = cli.run("restore-points", "forget", "--keep-last", "1", "--dry-run", "--json")
    assert len(last_json(dry.stdout)["removed"]) == 2 and len(_points(cli)) == 3
    cli.run("restore-points", "forget", "--keep-last", "1", check=True)
    assert [p["id"] for p in _points(cli)] == [points[-1]["id"]]
    ids = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    assert snapshot in {s["id"] for s in ids}  # the backup is no restore point: kept
