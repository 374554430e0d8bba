"""Index compaction killed at every step (issue 18 section 3).

A repository that full-key backups and agent runs left with many small index files
is pruned with nothing to delete, so prune only compacts the index: it writes the
merged index, then deletes the superseded files one by one. The crash harness of
:mod:`tests.reliability.test_crash_points` counts the run's mutating storage
operations, then kills a fresh copy with ``os._exit`` before and after each of them
(the first and last of every run of one kind: the lock, the new index file, the
first and last superseded-file deletion, the lock release, the audit record), and
verifies: ``unlock`` and ``check --read-data`` pass, every snapshot restores
byte-exactly, prune runs again to completion (and compacts), and everything
verifies again. Positive controls: the crash lands on the operation meant (the
harness checks storage right after the death), and the count shows the run really
wrote the new index before deleting an old file.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.conftest import PASSWORD
from tests.reliability.test_crash_points import (
    WHENS,
    RepoSpec,
    Scenario,
    _keyark,
    _kind,
    _write_tree,
    count_operations,
    crash_points,
    run_trials,
)


def _fragmented(tmp: Path) -> Scenario:
    """Two full-key and two agent snapshots over many small index files."""
    pristine = tmp / "pristine"
    pristine.mkdir()
    target = RepoSpec("repo", PASSWORD)
    _keyark(pristine, target, "init", "--pack-size", "1")
    credential = pristine / "web1.cred"
    _keyark(pristine, target, "agent", "add", "web1", "--out", str(credential))
    agent: dict[str, str | None] = {
        "KEYARK_AGENT_CREDENTIAL": str(credential),
        "KEYARK_PASSWORD": None,
    }
    src = tmp / "src"
    sources = {
        "full1": _write_tree(src / "full1", 11, [200_000]),
        "full2": _write_tree(src / "full2", 12, [200_000]),
        # An agent run writes an index file per pack: 1 MiB packs, several each.
        "agent1": _write_tree(src / "agent1", 13, [900_000] * 5),
        "agent2": _write_tree(src / "agent2", 14, [900_000] * 5),
    }
    for tag in ("full1", "full2"):
        _keyark(pristine, target, "backup", str(sources[tag]), "--tag", tag)
    for tag in ("agent1", "agent2"):
        _keyark(pristine, target, "backup", str(sources[tag]), "--tag", tag, **agent)
    tags = list(sources)
    return Scenario("compact", pristine, ["prune"], [target], {"repo": tags}, tags, sources)


def _index_files(repo: Path) -> int:
    return sum(1 for p in (repo / "index").rglob("*") if p.is_file())


@pytest.mark.timeout(900)
def test_compaction_killed_at_each_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _fragmented(tmp_path)
    started = time.monotonic()
    before = _index_files(scenario.pristine / "repo")
    operations = count_operations(scenario, tmp_path)
    kinds = [_kind(op) for op in operations]
    # Control: this prune only compacts, and writes the new index before any deletion.
    assert "put:data" not in kinds and "delete:data" not in kinds, kinds
    assert kinds.count("delete:index") == before > 9, kinds
    assert kinds.index("put:index") < kinds.index("delete:index")
    points = [(at, when) for at in crash_points(kinds) for when in WHENS]
    outcomes = run_trials(scenario, tmp_path, points)
    failed = [o for o in outcomes if o.problems]
    with capsys.disabled():
        print(
            f"\ncompaction: {before} index files; {len(operations)} mutating operations "
            f"({' '.join(kinds)}); crashed before and after {len(points) // 2} of them, "
            f"{len(failed)} failed, {time.monotonic() - started:.1f}s"
        )
    assert not failed, "\n".join(
        f"{o.when} operation {o.at} ({o.operation}): " + "; ".join(o.problems) for o in failed
    )
