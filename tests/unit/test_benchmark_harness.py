"""The comparison benchmark's own measuring parts (benchmarks/measure.py, changes.py).

Peak RSS must be the tool's, not the benchmark's (Linux hands the forking process's
peak to the child at exec), and the 1% change set must leave the corpus exactly as it
was, even after a run killed between apply and revert.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(autouse=True)
def _benchmarks_on_path() -> Iterator[None]:
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))


def _module(name: str) -> Any:
    """A benchmarks/ module (the directory is not a package; see the fixture)."""
    return importlib.import_module(name)


def _touched(mib: int) -> bytearray:
    block = bytearray(mib << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return block


@pytest.mark.skipif(not os.access("/usr/bin/time", os.X_OK), reason="needs GNU time")
def test_peak_rss_is_the_tools_not_the_benchmarks(tmp_path: Path) -> None:
    run_measured, NO_DROP = _module("measure").run_measured, _module("measure").NO_DROP

    held = _touched(96)
    # Positive control: the benchmark's own wait4 reports its size for a tiny child.
    child = subprocess.Popen(["/bin/true"])
    _, _, usage = os.wait4(child.pid, 0)
    assert usage.ru_maxrss > 96 * 1024
    m = run_measured(
        ["/bin/true"], env=None, cwd=None, log_path=tmp_path / "log", corpus="c",
        tool="t", op="o", drop=NO_DROP, cache="warm",
    )  # fmt: skip
    assert m.rss_source == "time"
    assert m.returncode == 0
    assert m.max_rss_kib < 16 * 1024
    del held


@pytest.mark.skipif(not os.access("/usr/bin/time", os.X_OK), reason="needs GNU time")
def test_exit_status_and_signals_come_through(tmp_path: Path) -> None:
    run_measured, NO_DROP = _module("measure").run_measured, _module("measure").NO_DROP

    def status(script: str) -> int:
        m = run_measured(
            ["sh", "-c", script], env=None, cwd=None, log_path=tmp_path / "log", corpus="c",
            tool="t", op="o", drop=NO_DROP, cache="warm",
        )  # fmt: skip
        return int(m.returncode)

    assert status("exit 3") == 3
    assert status("kill -9 $$") == -9


def _corpus(root: Path) -> None:
    for d in range(20):
        (root / f"d{d}").mkdir(parents=True)
        for f in range(10):
            (root / f"d{d}" / f"f{f}.txt").write_text(f"{d}/{f}\n" * (f + 1))


def test_change_set_is_reverted_exactly(tmp_path: Path) -> None:
    ChangeSet = _module("changes").ChangeSet
    tree_manifest = _module("corpora").tree_manifest

    root = tmp_path / "corpus"
    _corpus(root)
    manifest = tree_manifest(root)
    times = {p: p.stat().st_mtime_ns for p in root.rglob("*.txt")}
    changes = ChangeSet(root, manifest, 0.01, 19)
    assert len(changes.paths) == 2  # 1% of 200 files
    changes.apply()
    changed = tree_manifest(root)
    assert changed == changes.changed_manifest() != manifest
    assert sorted(k for k in manifest if changed[k] != manifest[k]) == changes.paths
    changes.revert()
    assert tree_manifest(root) == manifest
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.txt")} == times
    assert not changes.journal.exists()
    assert ChangeSet(root, manifest, 0.01, 19).paths == changes.paths  # deterministic


def test_a_killed_runs_change_is_undone_by_the_next_change_set(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    _corpus(root)
    script = (
        "import os, sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path;"
        "from changes import ChangeSet; from corpora import tree_manifest;"
        "root = Path(sys.argv[2]); c = ChangeSet(root, tree_manifest(root), 0.05, 7);"
        "c.apply(); os.kill(os.getpid(), 9)"
    )
    ChangeSet = _module("changes").ChangeSet
    tree_manifest = _module("corpora").tree_manifest

    manifest = tree_manifest(root)
    killed = subprocess.run([sys.executable, "-c", script, str(BENCHMARKS), str(root)], check=False)
    assert killed.returncode == -9
    assert tree_manifest(root) != manifest  # the kill left the corpus changed
    ChangeSet(root, manifest, 0.01, 19)
    assert tree_manifest(root) == manifest
