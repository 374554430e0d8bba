"""``Output.listing_of`` (documents with ``--json``, a row of each item else) and the
``SNAPSHOT[:DIR]`` argument of ``dump`` and ``export``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from keyark.cli.render import Output
from keyark.cli.settings import Settings
from keyark.cli.snapshot_filter import snapshot_and_directory


@dataclass
class _Item:
    name: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size}


ITEMS = [_Item("a", 1), _Item("b", 22)]


def _row(item: _Item) -> list[str]:
    return [item.name, str(item.size)]


def test_listing_of_prints_a_row_of_each_item(capsys: pytest.CaptureFixture[str]) -> None:
    Output(Settings()).listing_of(ITEMS, ("Name", "Size"), _row, "none")
    assert capsys.readouterr().out.splitlines() == ["Name  Size", "a     1", "b     22"]


def test_listing_of_prints_the_documents_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    Output(Settings(json=True)).listing_of(ITEMS, ("Name", "Size"), _row, "none")
    documents = json.loads(capsys.readouterr().out)
    assert documents == [{"name": "a", "size": 1}, {"name": "b", "size": 22}]


def test_listing_of_says_when_there_are_none(capsys: pytest.CaptureFixture[str]) -> None:
    Output(Settings()).listing_of([], ("Name", "Size"), _row, "none")
    assert capsys.readouterr().out.splitlines() == ["Name  Size", "none"]
    Output(Settings(json=True)).listing_of([], ("Name", "Size"), _row, "none")
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("latest", ("latest", "/")),
        ("1a2b3c4d:/etc/ssl", ("1a2b3c4d", "/etc/ssl")),
        ("latest:", ("latest", "/")),
        ("latest:/a:b", ("latest", "/a:b")),
    ],
)
def test_snapshot_and_directory(argument: str, expected: tuple[str, str]) -> None:
    assert snapshot_and_directory(argument) == expected
