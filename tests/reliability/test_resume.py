"""Resume after a kill: backup, copy and ``key rotate --reencrypt`` reuse what was uploaded.

Issue 9 section 3: after a kill every run started over (backup 26 of 26, copy 9 of
9, rotate too), leaving up to 183% of the repository as orphaned packs. Each test
runs the command in a subprocess on ~24 MiB of random data with 1 MiB packs,
SIGKILLs it when the Nth new pack appears in ``data/`` (observed in the
repository, never a timer), then runs it again and measures, by pack headers,
how many bytes of blobs that had already reached storage the second run
uploaded again: at most 10% of what had reached storage. The repository then
passes ``check --read-data`` and restores exactly.

Positive control: the same second run with adoption disabled (no unindexed pack
found) uploads most of it again, so the measurement can fail.
"""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD, keyark_binary

from keyark import ops
from keyark.archiver.backup import BackupOptions, backup
from keyark.catalog.snapshots import list_snapshots
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials
from keyark.maintenance.rotate import reencrypt
from keyark.replication import choose_snapshots, copy_snapshots
from keyark.repo import adoption
from keyark.repo.pack import pack_id_from_name
from keyark.repo.repository import Repository

FILES = 6
FILE_SIZE = 4 * 1024 * 1024
#: Kill at this many new packs: about half of the ~24 expected, and below the 16
#: packs after which a writer indexes what it uploaded (so resume needs adoption).
KILL_AT = 10
#: The second run may re-upload at most this share of what had reached storage.
ALLOWED = 0.10


def _source(root: Path) -> Path:
    root.mkdir()
    for i in range(FILES):
        (root / f"key{i}.bin").write_bytes(os.urandom(FILE_SIZE))
    return root


def _packs(repo: Path) -> dict[str, int]:
    """Name -> size of every complete pack (temporary objects excluded)."""
    found: dict[str, int] = {}
    for path in (repo / "data").glob("*/*"):
        if path.name.startswith("."):
            continue
        try:
            found[f"data/{path.parent.name}/{path.name}"] = path.stat().st_size
        except FileNotFoundError:
            continue
    return found


def _run_until_packs(cli: CLI, repo: Path, args: list[str], count: int) -> dict[str, int]:
    """Run ``keyark ARGS``; SIGKILL it once ``count`` new packs are stored; the new packs."""
    before = set(_packs(repo))
    process = subprocess.Popen(
        [keyark_binary(), *args], env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            if len(set(_packs(repo)) - before) >= count:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL, f"not killed mid-run: {err.decode()[-500:]}"
    return {n: s for n, s in _packs(repo).items() if n not in before}


def _open(repo: Path, cache: Path) -> Repository:
    return ops.open_repository(str(repo), Credentials(passphrase=PASSWORD.encode()), None, cache)


def _blobs(repo_dir: Path, cache: Path, names: list[str]) -> dict[bytes, int]:
    """Blob id -> stored length of every blob in the packs ``names``."""
    blobs: dict[bytes, int] = {}
    with _open(repo_dir, cache) as repo:
        for name in names:
            pack_id = pack_id_from_name(name)
            assert pack_id is not None
            for entry in repo.blobs.read_pack_header(pack_id):
                blobs[entry.blob_id] = entry.length
    return blobs


def _reuploaded(
    repo_dir: Path, cache: Path, stored: dict[str, int], second: Callable[[], None]
) -> tuple[int, int]:
    """(bytes that had reached storage, of which the second run uploaded again)."""
    before = _blobs(repo_dir, cache, list(stored))
    present = set(_packs(repo_dir))
    second()
    fresh = [n for n in _packs(repo_dir) if n not in present]
    again = _blobs(repo_dir, cache, fresh)
    return sum(stored.values()), sum(length for b, length in again.items() if b in before)


def _assert_healthy(cli: CLI, tmp_path: Path, source: Path, env: dict[str, str]) -> None:
    cli.run("check", "--read-data", check=True, env=env)
    target = tmp_path / "restored"
    cli.run("restore", "latest", "--target", str(target), check=True, env=env)
    restored = target / source.relative_to(source.anchor)
    for path in source.iterdir():
        assert filecmp.cmp(path, restored / path.name, shallow=False), path.name


def _no_adoption(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adoption, "find_unindexed", lambda repo: {})


def _rerun(
    cli: CLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stored: dict[str, int],
    args: list[str],
    adopt: bool,
    in_process: Callable[[Path], None],
) -> tuple[int, int]:
    """Run ``keyark ARGS`` again (for the control: ``in_process(cache)`` with adoption off).

    Returns (bytes that had reached storage, of which the second run uploaded again),
    having asserted that enough had reached storage and, for the control, that the
    second run started over.
    """
    cache = tmp_path / "probe-cache"

    def second() -> None:
        if adopt:
            cli.run(*args, check=True)
            return
        _no_adoption(monkeypatch)
        in_process(cache)

    reached, again = _reuploaded(cli.repo, cache, stored, second)
    assert reached >= KILL_AT * 1024 * 1024 // 2
    if not adopt:
        assert again > 0.5 * reached, "positive control: without adoption it starts over"
    return reached, again


# --------------------------------------------------------------------------- backup
@pytest.mark.parametrize("adopt", [True, False], ids=["adoption", "control-no-adoption"])
def test_backup_resumes(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adopt: bool
) -> None:
    source = _source(tmp_path / "src")
    cli.run("init", "--pack-size", "1", check=True)
    args = ["backup", str(source)]
    stored = _run_until_packs(cli, cli.repo, args, KILL_AT)

    def in_process(cache: Path) -> None:
        with _open(cli.repo, cache) as repo:
            backup(repo, BackupOptions([str(source)]), OperationContext(cache_dir=cache))

    reached, again = _rerun(cli, tmp_path, monkeypatch, stored, args, adopt, in_process)
    if adopt:
        assert again <= ALLOWED * reached, f"re-uploaded {again} of {reached} bytes"
        _assert_healthy(cli, tmp_path, source, {})


# --------------------------------------------------------------------------- copy
@pytest.mark.parametrize("adopt", [True, False], ids=["adoption", "control-no-adoption"])
def test_copy_resumes(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adopt: bool
) -> None:
    source = _source(tmp_path / "src")
    origin = tmp_path / "origin"
    from_env = {"KEYARK_REPOSITORY": str(origin)}
    cli.run("init", "--pack-size", "1", check=True, env=from_env)
    cli.run("backup", str(source), check=True, env=from_env)
    cli.run("init", "--pack-size", "1", check=True)
    cli.env["KEYARK_FROM_PASSWORD"] = PASSWORD
    args = ["copy", "--from-repo", str(origin), "--all"]
    stored = _run_until_packs(cli, cli.repo, args, KILL_AT)

    def in_process(cache: Path) -> None:
        context = OperationContext(cache_dir=cache)
        with _open(origin, cache) as src, _open(cli.repo, cache) as dst:
            chosen = choose_snapshots(list_snapshots(src, context), [], True)
            copy_snapshots(src, dst, chosen, list_snapshots(dst, context))

    reached, again = _rerun(cli, tmp_path, monkeypatch, stored, args, adopt, in_process)
    if adopt:
        assert again <= ALLOWED * reached, f"re-uploaded {again} of {reached} bytes"
        _assert_healthy(cli, tmp_path, source, {})


# --------------------------------------------------------------------------- rotate
@pytest.mark.parametrize("adopt", [True, False], ids=["adoption", "control-no-adoption"])
def test_reencrypt_resumes(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adopt: bool
) -> None:
    source = _source(tmp_path / "src")
    cli.run("init", "--pack-size", "1", check=True)
    cli.run("backup", str(source), check=True)
    args = ["key", "rotate", "--reencrypt"]
    stored = _run_until_packs(cli, cli.repo, args, KILL_AT)

    def in_process(cache: Path) -> None:
        with _open(cli.repo, cache) as repo:
            reencrypt(repo)

    reached, again = _rerun(cli, tmp_path, monkeypatch, stored, args, adopt, in_process)
    if adopt:
        assert again <= ALLOWED * reached, f"re-encrypted {again} of {reached} bytes again"
        _assert_healthy(cli, tmp_path, source, {})
        status = cli.run("key", "status", check=True).stdout
        assert "pending" not in status
