"""Index rewrites of ``key rotate --reencrypt`` and ``repair index`` at scale (issue 18 §3).

A rewrite replaces every index file; the new files must not each name every file they
supersede (that made the index grow as new x old files in the load test). Exactly
one new file names them, and it is the last index file written, so at every point of
a crash the old files are still there until the complete new index is durable.

Each command runs through the real CLI in its own process under
:mod:`tests.reliability.crash_launcher`, which records every storage write in order
(and crashes at one of them for the crash test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PASSWORD
from tests.reliability.crash_launcher import AT_ENV, COUNT_FILE_ENV, CRASH_EXIT, WHEN_ENV

from keyark import ops
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.slots import Credentials
from keyark.maintenance.rotate import MARKER
from keyark.repo.index import decode_index
from keyark.repo.pack import DATA
from keyark.repo.repository import Repository
from keyark.repo.rewrite import PACKS_PER_INDEX_FILE

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = [sys.executable, "-m", "tests.reliability.crash_launcher"]
CREDS = Credentials(passphrase=PASSWORD.encode())
#: More packs than one index file of a rewrite holds: the rewrite writes two files.
PACKS = PACKS_PER_INDEX_FILE + 6


def _env(tmp: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    return env | {
        "KEYARK_TEST_FAST_KDF": "1",
        "KEYARK_REPOSITORY": url,
        "KEYARK_PASSWORD": PASSWORD,
        "KEYARK_CACHE_DIR": str(tmp / "cache"),
        "KEYARK_STATE_DIR": str(tmp / "state"),
        **extra,
    }


def _run(tmp: Path, url: str, args: list[str], **extra: str) -> tuple[int, dict[str, Any], str]:
    """``keyark ARGS`` in a process of its own; (exit code, recorded writes, stderr)."""
    count = tmp / f"count-{len(list(tmp.glob('count-*')))}.json"
    env = _env(tmp, url, **{COUNT_FILE_ENV: str(count)}, **extra)
    done = subprocess.run(
        [*LAUNCHER, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    record = json.loads(count.read_text()) if count.exists() else {}
    return done.returncode, record, done.stderr


def _keyark(tmp: Path, url: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAUNCHER, *args],
        env=_env(tmp, url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def _save_packs(repo: Repository, count: int, tag: str) -> None:
    """``count`` packs of one small blob each (a flush per blob)."""
    with repo.lock("backup"):
        for number in range(count):
            repo.blobs.save_blob(DATA, f"{tag} blob {number}\n".encode() * 40)
            repo.blobs.flush()


@pytest.fixture
def many_packs(tmp_path: Path) -> str:
    """A repository whose index lists :data:`PACKS` packs, most of them kept by a rewrite.

    A few packs are sealed with the first data key; then a re-encryption is left
    pending (the keyring state an interrupted ``key rotate --reencrypt`` leaves: a
    fresh current key and the marker naming it, made with the calls ``reencrypt``
    makes) and :data:`PACKS` packs are sealed with that key. ``key rotate
    --reencrypt`` then resumes: it copies the few and keeps the many, and ``repair
    index`` indexes all of them, so each writes more than one index file.
    """
    url = str(tmp_path / "repo")
    ops.init_repository(url, PASSWORD.encode(), pack_size_mib=1).close()
    repo = ops.open_repository(url, CREDS, cache_dir=tmp_path / "cache")
    _save_packs(repo, 3, "old key")
    with repo.lock("key rotate (re-encrypt)", exclusive=True):
        keyring = repo.keys.keyring
        fresh = keyring.rotate()
        keyring.extra[MARKER] = {"target": fresh.key_id.hex(), "started": fresh.created}
        repo.keys.save_keyring()
        repo.keys.forget_sealers()
    _save_packs(repo, PACKS, "target key")
    repo.close()
    return url


def _index_names(url: str) -> set[str]:
    return {str(p.relative_to(url)) for p in Path(url, "index").rglob("*") if p.is_file()}


def _superseded(url: str, tmp: Path, name: str) -> list[str]:
    repo = ops.open_repository(url, CREDS, cache_dir=tmp / "cache")
    try:
        plain = repo.keys.open_object(ObjectKind.INDEX, b"", repo.packs.read_index_bytes(name))
        return decode_index(plain)[1]
    finally:
        repo.close()


def _index_puts(record: dict[str, Any]) -> list[str]:
    return [
        name for verb, _where, name in record["operations"] if verb == "put" and "index/" in name
    ]


@pytest.mark.parametrize(
    "args", [["key", "rotate", "--reencrypt"], ["repair", "index"]], ids=["rotate", "repair"]
)
def test_only_the_last_written_index_file_names_the_superseded_ones(
    tmp_path: Path, many_packs: str, args: list[str]
) -> None:
    url = many_packs
    old = _index_names(url)
    code, record, stderr = _run(tmp_path, url, args)
    assert code == 0, stderr
    final = [name for name in _index_puts(record) if name in _index_names(url)]
    assert len(final) >= 2, final  # control: the rewrite really wrote several files
    named = {name: _superseded(url, tmp_path, name) for name in final}
    assert not _index_names(url) & old  # the old files are gone
    carriers = [name for name, superseded in named.items() if superseded]
    assert carriers == [final[-1]], {n: len(s) for n, s in named.items()}
    assert old <= set(named[final[-1]])


def test_a_crash_before_the_last_index_file_keeps_the_old_index(
    tmp_path: Path, many_packs: str
) -> None:
    """Killed before the file naming the superseded ones is written: every old file is
    still there, ``check --read-data`` passes, and running it again finishes the job."""
    url = many_packs
    old = _index_names(url)
    count_dir = tmp_path / "counting"
    count_dir.mkdir()
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", url, str(copy)], check=True)
    code, record, stderr = _run(count_dir, str(copy), ["key", "rotate", "--reencrypt"])
    assert code == 0, stderr
    puts = [
        i + 1
        for i, (verb, _w, name) in enumerate(record["operations"])
        if verb == "put" and "index/" in name
    ]
    # The last index put is the one naming the superseded files (the test above).
    code, crashed, stderr = _run(
        tmp_path,
        url,
        ["key", "rotate", "--reencrypt"],
        **{AT_ENV: str(puts[-1]), WHEN_ENV: "before"},
    )
    assert code == CRASH_EXIT, stderr
    assert crashed["crashed_at"] == puts[-1]
    verb, _where, name = crashed["operations"][puts[-1] - 1]
    assert verb == "put" and name.startswith("index/")  # control: it died at that write
    assert name not in _index_names(url)
    assert old <= _index_names(url)  # nothing of the old index was deleted
    assert _keyark(tmp_path, url, ["unlock"]).returncode == 0
    checked = _keyark(tmp_path, url, ["check", "--read-data"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    resumed = _keyark(tmp_path, url, ["key", "rotate", "--reencrypt"])
    assert resumed.returncode == 0, resumed.stderr
    assert not old & _index_names(url)
    checked = _keyark(tmp_path, url, ["check", "--read-data"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
