"""Drill planning: the sample's parser and choice, the scheduled task's targets and its
config checks, and the spot check against live sources (real files, with a positive
control: bytes that differ although the source looks unchanged)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from keyark.catalog.trees import Entry
from keyark.config.checks import reference_problems
from keyark.config.document import KeyarkConfig
from keyark.drill.live import compare_live
from keyark.drill.plan import DrillTarget, choose_sample, drill_targets, parse_sample, sample_text
from keyark.drill.result import DrillResult, LiveComparison
from keyark.errors import UsageError
from keyark.repo.tree import FILE, Node


@pytest.mark.parametrize(("text", "percent"), [("10%", 10.0), ("30", 30.0), (" 100 % ", 100.0)])
def test_parse_sample(text: str, percent: float) -> None:
    assert parse_sample(text) == percent


@pytest.mark.parametrize("text", ["0%", "101%", "-5", "ten", "nan", ""])
def test_parse_sample_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="sample"):
        parse_sample(text)


def test_choose_sample_rounds_up_keeps_order_and_full_is_everything() -> None:
    items = list(range(10))
    chosen = choose_sample(items, 30, random.Random(1))
    assert len(chosen) == 3 and chosen == sorted(chosen)
    assert len(choose_sample(items, 1, random.Random(2))) == 1  # at least one
    assert choose_sample(items, None, random.Random(3)) == items
    assert choose_sample(items, 100, random.Random(4)) == items
    assert choose_sample([], 50, random.Random(5)) == []
    samples = {tuple(choose_sample(items, 30, random.Random(seed))) for seed in range(20)}
    assert len(samples) > 1, "the sample is random"
    assert sample_text(None) == "full" and sample_text(30.0) == "30%"


def _config(drill: dict[str, Any], jobs: tuple[str, ...] = ("web", "db")) -> KeyarkConfig:
    return KeyarkConfig.model_validate(
        {
            "version": 1,
            "repositories": {"main": {"url": "/tmp/a"}, "offsite": {"url": "/tmp/b"}},
            "jobs": {name: {"repository": "main", "sources": ["/etc"]} for name in jobs},
            "maintenance": {"drill": {"schedule": "0 3 * * *", **drill}},
        }
    )


def test_drill_targets() -> None:
    every_job = _config({})
    assert every_job.maintenance.drill is not None
    assert drill_targets(every_job, every_job.maintenance.drill) == [
        DrillTarget("main", "web"),
        DrillTarget("main", "db"),
    ]
    named = _config({"jobs": ["db"], "repositories": ["offsite"]})
    assert named.maintenance.drill is not None
    assert drill_targets(named, named.maintenance.drill) == [
        DrillTarget("main", "db"),
        DrillTarget("offsite"),
    ]
    no_jobs = _config({}, jobs=())
    assert no_jobs.maintenance.drill is not None
    assert drill_targets(no_jobs, no_jobs.maintenance.drill) == [
        DrillTarget("main"),
        DrillTarget("offsite"),
    ]


def test_drill_task_validation_and_reference_checks() -> None:
    with pytest.raises(ValueError, match="either sample or full"):
        _config({"sample": "10%", "full": True})
    with pytest.raises(ValueError, match="invalid sample"):
        _config({"sample": "lots"})
    document = {
        "version": 1,
        "repositories": {"main": {"url": "/tmp/a"}},
        "jobs": {"web": {"repository": "main", "sources": ["/etc"]}},
        "maintenance": {"drill": {"schedule": "0 3 * * *", "jobs": ["wbe"], "repositories": ["x"]}},
    }
    problems = dict(reference_problems(document))
    assert "'wbe' is not defined under jobs" in problems[("maintenance", "drill", "jobs", 0)]
    assert "'x' is not defined" in problems[("maintenance", "drill", "repositories", 0)]


def _entry(scratch: Path, source: Path, restored: bytes, node: Node | None = None) -> Entry:
    """A snapshot entry for ``source`` (its live metadata unless ``node`` is given) whose
    restored copy under ``scratch`` holds ``restored``."""
    parts = tuple(source.parts[1:])
    copy = scratch.joinpath(*parts)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(restored)
    if node is None:
        found = os.lstat(source)
        node = Node(
            source.name,
            FILE,
            size=found.st_size,
            mtime_ns=found.st_mtime_ns,
            ctime_ns=found.st_ctime_ns,
        )
    return Entry(parts, node)


def test_compare_live_counts_matches_differences_changes_and_skips(tmp_path: Path) -> None:
    scratch, live = tmp_path / "scratch", tmp_path / "live"
    live.mkdir()
    same, differs, changed = live / "same", live / "differs", live / "changed"
    same.write_bytes(b"the same bytes")
    differs.write_bytes(b"original bytes")
    changed.write_bytes(b"old")
    stale = Node("changed", FILE, size=3, mtime_ns=1, ctime_ns=1)  # recorded before a change
    entries = [
        _entry(scratch, same, b"the same bytes"),
        # positive control: the source looks unchanged but the restored bytes differ
        _entry(scratch, differs, b"DAMAGED bytes!"),
        _entry(scratch, changed, b"old", stale),
        _entry(scratch, live / "gone", b"x", Node("gone", FILE, size=1)),
    ]
    comparison = LiveComparison()
    compare_live(str(scratch), entries, comparison)
    assert (comparison.compared, comparison.matched, comparison.differed) == (2, 1, 1)
    assert comparison.differences == [str(differs)]
    assert comparison.changed == 1 and comparison.changed_paths == [str(changed)]
    assert comparison.skipped == 1
    result = DrillResult(live=comparison)
    assert not result.ok and str(differs) in result.first_problem()
    assert DrillResult(live=LiveComparison(changed=3, skipped=2)).ok
