"""The ``summary`` results share one JSON form (:class:`keyark.results.Summary`)."""

from __future__ import annotations

import dataclasses
import json

from keyark.jobs.verify import VerifySummary
from keyark.maintenance.stats import RepoStats
from keyark.replication import CopySummary
from keyark.results import CheckSummary, Problem, Summary


def _fields(result: object) -> list[str]:
    assert dataclasses.is_dataclass(result)
    return [item.name for item in dataclasses.fields(result)]


def test_check_summary_adds_ok_and_damaged_packs() -> None:
    good = CheckSummary(snapshots=2, packs=3)
    data = good.to_dict()
    assert set(data) == {"message_type", *_fields(good), "ok", "damaged_packs"}
    assert data["message_type"] == "summary" and data["ok"] is True
    assert data["damaged_packs"] == [] and data["snapshots"] == 2
    bad = CheckSummary(problems=[Problem("pack", "data/ab/abcd", "bad", repair_pack=True)])
    data = bad.to_dict()
    assert data["ok"] is False and data["damaged_packs"] == ["abcd"]
    assert data["problems"][0]["object"] == "data/ab/abcd"  # nested records as dicts
    json.dumps(data)


def test_verify_and_copy_summaries() -> None:
    verify = VerifySummary(snapshot_id="s", blobs_total=4, problems=["x: bad"])
    data = verify.to_dict()
    assert set(data) == {"message_type", *_fields(verify), "ok"}
    assert data["message_type"] == "summary" and data["ok"] is False
    assert VerifySummary().to_dict()["ok"] is True
    copy = CopySummary(copied=["a"], files=1)
    assert copy.to_dict() == {"message_type": "summary", **dataclasses.asdict(copy)}


def test_every_summary_is_a_summary() -> None:
    for kind in (CheckSummary, VerifySummary, CopySummary, RepoStats):
        assert issubclass(kind, Summary) and kind.message_type == "summary"
