"""Counts agree in number and stored times are shown local, with their zone (issue 11
§1.5 and "Times shown with their zone"): maintenance verbs, ``key list``, ``agent list``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.conftest import CLI

#: A zone a developer's machine is unlikely to be in, with a half-hour offset.
ZONE = "Asia/Kolkata"


def _local(iso: str) -> str:
    """``iso`` as ``snapshots`` shows times in :data:`ZONE`."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _one_snapshot(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "tls.key").write_text("key")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)


def test_counts_of_one_are_singular(cli: CLI, tmp_path: Path) -> None:
    _one_snapshot(cli, tmp_path)
    checked = cli.run("check", "--read-data", check=True).stdout
    assert "checked 1 snapshot, " in checked, checked
    assert " 1 snapshots" not in checked and " 1 packs" not in checked, checked
    rebuilt = cli.run("catalog", "rebuild", check=True).stdout
    assert "catalog rebuilt: 1 snapshot in " in rebuilt, rebuilt
    pruned = cli.run("prune", "--dry-run", check=True).stdout
    assert "1 snapshot uses " in pruned and "0 unused packs" in pruned, pruned
    repaired = cli.run("repair", "snapshots", check=True).stdout
    assert "0 of 1 snapshot were damaged" in repaired, repaired
    index = cli.run("repair", "index", check=True).stdout
    assert "; wrote 1 index file, removed 1 old one" in index, index
    unlocked = cli.run("unlock", check=True).stdout
    assert "0 locks removed" in unlocked, unlocked


def test_key_list_times_are_local_with_their_zone(cli: CLI) -> None:
    cli.run("init", check=True)
    created = json.loads(cli.run("key", "list", "--json", check=True).stdout)[0]["created"]
    listed = cli.run("key", "list", env={"TZ": ZONE, "COLUMNS": "60"}, check=True).stdout
    assert _local(created) in listed, listed
    assert created not in listed  # not the stored ISO form


def test_agent_list_times_are_local_with_their_zone(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    cli.run("agent", "add", "web1", "--out", str(tmp_path / "web1.cred"), check=True)
    created = json.loads(cli.run("agent", "list", "--json", check=True).stdout)[0]["created"]
    listed = cli.run("agent", "list", env={"TZ": ZONE}, check=True).stdout
    assert _local(created) in listed, listed
