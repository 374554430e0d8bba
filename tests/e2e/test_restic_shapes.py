"""restic parity of output shapes and flags (issue 11, section 2), through the installed
``keyark``: ``find --json`` grouped per snapshot, times with their zone in every snapshot
table, counts that agree in number, restic's compression names, ``stats --mode
blobs-per-file`` and a global counted ``-v``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import CLI

#: The fields restic 0.14's ``find --json`` gives a file match (``atime``, ``ctime`` and
#: ``device_id`` left out: documented differences).
RESTIC_FILE_FIELDS = {
    "path",
    "permissions",
    "type",
    "mode",
    "mtime",
    "uid",
    "gid",
    "user",
    "group",
    "size",
    "links",
}
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
UTC = {"TZ": "UTC"}


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "server.key").write_text("key one")
    (source / "tls" / "server.crt").write_text("certificate")
    (source / "link.key").symlink_to("tls/server.key")
    return source


def test_find_json_is_restics_list_per_snapshot(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path)
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    (source / "tls" / "new.key").write_text("key two")
    cli.run("backup", str(source), check=True)
    ids = [s["id"] for s in json.loads(cli.run("snapshots", "--json", check=True).stdout)]
    found: list[dict[str, Any]] = json.loads(cli.run("find", "*.key", "--json", check=True).stdout)
    assert [group["snapshot"] for group in found] == ids
    first, second = found
    assert {"matches", "hits", "snapshot"} <= set(first)
    assert first["hits"] == len(first["matches"]) == 2
    assert second["hits"] == len(second["matches"]) == 3
    by_path = {m["path"]: m for m in second["matches"]}
    key = by_path[f"{source}/tls/server.key"]
    assert RESTIC_FILE_FIELDS <= set(key), sorted(RESTIC_FILE_FIELDS - set(key))
    assert key["type"] == "file" and key["size"] == len("key one") and key["links"] == 1
    assert key["permissions"].startswith("-") and RFC3339_NANO.match(key["mtime"]), key
    link = by_path[f"{source}/link.key"]
    assert link["type"] == "symlink" and link["linktarget"] == "tls/server.key"
    # No match: an empty list, as restic prints.
    assert json.loads(cli.run("find", "nothing*", "--json", check=True).stdout) == []


def _snapshot_times(cli: CLI) -> list[str]:
    """The time column of ``snapshots`` (the way every table must show a snapshot time)."""
    out = cli.run("snapshots", env=UTC, check=True).stdout
    return re.findall(r"^[0-9a-f]{8}\s+(\S+ \S+ \S+)", out, re.M)


def test_forget_shows_snapshot_times_as_snapshots_does(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path)
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    cli.run("backup", str(source), check=True)
    times = _snapshot_times(cli)
    assert len(times) == 2 and all(t.endswith(" UTC") for t in times), times
    shown = cli.run("forget", "--keep-last", "1", "--dry-run", env=UTC, check=True).stdout
    for when in times:
        assert re.search(rf"^[0-9a-f]{{8}}\s+{re.escape(when)}\s", shown, re.M), (when, shown)


def test_counts_agree_in_number(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path)
    cli.run("init", check=True)
    backed = cli.run("backup", str(source / "tls" / "server.key"), check=True).stdout
    assert "Processed 1 file," in backed, backed
    assert cli.run("snapshots", check=True).stdout.splitlines()[-1] == "1 snapshot"
    forget = cli.run("forget", "--keep-last", "1", "--dry-run", check=True).stdout
    assert "keep 1 snapshot:" in forget and "would remove 0 snapshots" in forget, forget
    everything = backed + forget + cli.run("snapshots", check=True).stdout
    assert not re.search(r"\b1 (snapshots|files|matches)\b", everything), everything


@pytest.mark.parametrize("name", ["off", "max", "auto"])
def test_restic_compression_names(cli: CLI, tmp_path: Path, name: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "big.pem").write_text("-----BEGIN CERTIFICATE-----\n" * 4000)
    cli.run("init", check=True)
    done = cli.run("backup", str(source), "--compression", name)
    assert done.returncode == 0, done.stderr
    raw = json.loads(cli.run("stats", "--mode", "raw-data", "--json", check=True).stdout)
    compressed = raw["total_size"] < raw["total_uncompressed_size"] / 4
    assert compressed == (name != "off"), (name, raw)


def test_compression_variable_takes_restics_off(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "big.pem").write_text("-----BEGIN CERTIFICATE-----\n" * 4000)
    cli.run("init", check=True)
    cli.run("backup", str(source), env={"KEYARK_COMPRESSION": "off"}, check=True)
    raw = json.loads(cli.run("stats", "--mode", "raw-data", "--json", check=True).stdout)
    assert raw["total_size"] >= raw["total_uncompressed_size"], raw


def _blobs_per_file_source(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    (source / "a").mkdir(parents=True)
    (source / "a" / "one.key").write_text("same contents")
    (source / "a" / "two.key").write_text("same contents")  # same contents: not counted
    (source / "a" / "changed.pem").write_text("version 1")
    (source / "empty").write_text("")  # no blobs: not counted
    return source


#: restic 0.14's totals for the two backups of :func:`_blobs_per_file_source`.
BLOBS_PER_FILE = {"total_file_count": 2, "total_blob_count": 3, "total_size": 31}


def test_stats_blobs_per_file(cli: CLI, tmp_path: Path) -> None:
    source = _blobs_per_file_source(tmp_path)
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    (source / "a" / "changed.pem").write_text("version 2")  # same path, a second blob
    cli.run("backup", str(source), check=True)
    found = json.loads(cli.run("stats", "--mode", "blobs-per-file", "--json", check=True).stdout)
    assert found["mode"] == "blobs-per-file"
    assert {k: found[k] for k in BLOBS_PER_FILE} == BLOBS_PER_FILE, found
    text = cli.run("stats", "--mode", "blobs-per-file", check=True).stdout
    assert re.search(r"Total blob count\s+3\b", text), text


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")
def test_blobs_per_file_totals_are_restics(tmp_path: Path) -> None:
    """The constant above is what restic itself reports (small files: one blob each)."""
    source = _blobs_per_file_source(tmp_path)
    env = {**os.environ, "RESTIC_PASSWORD": "x", "RESTIC_REPOSITORY": str(tmp_path / "r")}

    def restic(*args: str) -> str:
        return subprocess.run(
            ["restic", *args], env=env, capture_output=True, text=True, check=True
        ).stdout

    restic("init")
    restic("backup", str(source))
    (source / "a" / "changed.pem").write_text("version 2")
    restic("backup", str(source))
    found = json.loads(restic("stats", "--mode", "blobs-per-file", "--json"))
    assert {k: found[k] for k in BLOBS_PER_FILE} == BLOBS_PER_FILE, found


def test_verbose_is_global_and_counted(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path)
    cli.run("init", check=True)
    first = cli.run("-v", "backup", str(source), check=True).stdout  # before the verb
    assert re.search(r"^new\s+.*server\.key", first, re.M), first
    # -v twice, once before and once after the verb, is -vv: unchanged files listed too.
    again = cli.run("--verbose", "backup", str(source), "-v", check=True).stdout
    assert re.search(r"^unchanged\s+.*server\.key", again, re.M), again
    plain = cli.run("backup", str(source), "-v", check=True).stdout
    assert "unchanged" not in plain.split("using parent")[0], plain
    # Accepted by any command, and between a group and its subcommand.
    assert cli.run("snapshots", "-v").returncode == 0
    assert cli.run("key", "-v", "list").returncode == 0
