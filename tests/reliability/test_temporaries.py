"""Temporary objects of killed writes: ``check`` reports them, ``prune`` removes stale ones.

Issue 9 section 3: partial ``.tmp-*`` objects from kills were never removed and
invisible to ``check`` (156 MiB after 22 rotate kills; 71 MiB remained after
``prune``). A backup is SIGKILLed when a ``.tmp-`` object appears in ``data/``
(observed in the repository, never a timer). ``check`` must note them; ``prune``
must keep ones younger than the stale age (positive control: fresh ones stay)
and remove the ones older than it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import CLI, keyark_binary

from keyark.backends.base import (
    TemporaryObject,
    delete_temporary,
    is_temporary_name,
    list_temporary,
)
from keyark.backends.local import LocalBackend
from keyark.backends.retry import RetryingBackend
from keyark.repo.temporaries import STALE_AFTER_SECONDS, remove_stale_temporaries

FILES = 12
FILE_SIZE = 2 * 1024 * 1024
ATTEMPTS = 10


def _temporaries(repo: Path) -> list[Path]:
    return sorted(p for p in repo.rglob(".tmp-*") if p.is_file())


def _kill_mid_upload(cli: CLI, source: Path) -> list[Path]:
    """SIGKILL a backup as soon as a ``.tmp-`` object appears in data/; the leftovers."""
    for _attempt in range(ATTEMPTS):
        process = subprocess.Popen(
            [keyark_binary(), "backup", str(source)],
            env=cli.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                if any((cli.repo / "data").glob("*/.tmp-*")):
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.0005)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        left = _temporaries(cli.repo)
        if left:
            return left
    raise AssertionError(f"no kill in {ATTEMPTS} attempts landed during a temporary write")


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_check_reports_and_prune_removes_stale_temporaries(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(FILES):
        (source / f"key{i}.bin").write_bytes(os.urandom(FILE_SIZE))
    cli.run("init", "--pack-size", "1", check=True)
    left = _kill_mid_upload(cli, source)

    checked = cli.run("check", check=True)
    assert "temporary object(s)" in checked.stdout, checked.stdout
    assert f"{len(left)} temporary object(s)" in checked.stdout
    assert "no errors were found" in checked.stdout

    # Positive control: fresh temporaries (a writer might still own them) are kept.
    cli.run("prune", check=True)
    assert _temporaries(cli.repo) == left

    for path in left:
        _age(path, STALE_AFTER_SECONDS + 60)
    fresh = cli.repo / "data" / ".tmp-fresh0123456789"
    fresh.write_bytes(b"a write in progress")
    pruned = cli.run("prune", check=True)
    objects = "object" if len(left) == 1 else "objects"
    assert f"removed {len(left)} stale temporary {objects} (" in pruned.stdout, pruned.stdout
    assert _temporaries(cli.repo) == [fresh]

    fresh.unlink()
    after = cli.run("check", "--read-data", check=True)
    assert "temporary object" not in after.stdout
    cli.run("backup", str(source), check=True)
    cli.run("check", "--read-data", check=True)


def test_local_backend_lists_and_deletes_only_temporaries(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.put("data/ab/" + "ab" * 32, b"pack")
    (tmp_path / "data" / "ab" / ".tmp-0011").write_bytes(b"partial")
    _age(tmp_path / "data" / "ab" / ".tmp-0011", 100)
    (tmp_path / ".tmp-root").write_bytes(b"x")
    wrapped = RetryingBackend(backend)  # wrappers pass the optional methods through
    found = {t.name: t for t in list_temporary(wrapped)}
    assert set(found) == {"data/ab/.tmp-0011", ".tmp-root"}
    assert found["data/ab/.tmp-0011"].size == 7 and found["data/ab/.tmp-0011"].age_seconds >= 99
    assert not any(is_temporary_name(i.name) for i in backend.list(""))
    try:
        delete_temporary(wrapped, "data/ab/" + "ab" * 32)
    except ValueError:
        pass
    else:
        raise AssertionError("delete_temporary removed a real object")
    assert backend.get("data/ab/" + "ab" * 32) == b"pack"
    delete_temporary(wrapped, "data/ab/.tmp-0011")
    assert [t.name for t in list_temporary(backend)] == [".tmp-root"]


def test_backend_without_temporaries_lists_none(tmp_path: Path) -> None:
    class ObjectStore:
        """Only the seven protocol methods (no temporary objects), like S3."""

        def location(self) -> str:
            return "memory"

    assert list_temporary(ObjectStore()) == []  # type: ignore[arg-type]
    removal = remove_stale_temporaries(ObjectStore())  # type: ignore[arg-type]
    assert (removal.removed, removal.kept) == (0, 0)


def test_stale_age_decides(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    (tmp_path / ".tmp-old").write_bytes(b"old")
    (tmp_path / ".tmp-new").write_bytes(b"new")
    _age(tmp_path / ".tmp-old", STALE_AFTER_SECONDS + 1)
    removal = remove_stale_temporaries(backend)
    assert (removal.removed, removal.bytes, removal.kept) == (1, 3, 1)
    assert [t.name for t in list_temporary(backend)] == [".tmp-new"]
    assert isinstance(list_temporary(backend)[0], TemporaryObject)
