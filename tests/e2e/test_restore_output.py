"""What ``restore`` prints (issue 11 §2): restic's ``status`` lines with ``--json``, and
the snapshot time with its zone, as ``snapshots`` shows it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import CLI
from tests.json_lines import json_lines, last_json, messages

STATUS_FIELDS = {
    "message_type",
    "seconds_elapsed",
    "percent_done",
    "total_files",
    "files_restored",
    "total_bytes",
    "bytes_restored",
}


def _backed_up(cli: CLI, tmp_path: Path) -> Path:
    source = tmp_path / "src"
    (source / "tls").mkdir(parents=True)
    (source / "tls" / "a.crt").write_bytes(b"a" * 5000)
    (source / "tls" / "b.key").write_bytes(b"b" * 3000)
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    return source


def test_restore_json_streams_status_then_summary(cli: CLI, tmp_path: Path) -> None:
    _backed_up(cli, tmp_path)
    done = cli.run("restore", "latest", "--target", str(tmp_path / "out"), "--json", check=True)
    lines = json_lines(done.stdout)
    statuses = messages(done.stdout, "status")
    assert statuses, done.stdout
    assert [line["message_type"] for line in lines] == ["status"] * len(statuses) + ["summary"]
    for status in statuses:
        assert STATUS_FIELDS <= status.keys()
        assert 0.0 <= status["percent_done"] <= 1.0
        assert isinstance(status["seconds_elapsed"], int)
    final = statuses[-1]  # where the restore ended, even inside the rate limit
    assert final["percent_done"] == 1.0
    assert final["files_restored"] == final["total_files"] == 2
    assert final["bytes_restored"] == final["total_bytes"] == 8000
    summary = last_json(done.stdout)
    # restic's summary fields, and keyark's kept alongside (a superset).
    assert summary["total_files"] == summary["files_restored"] == 2
    assert summary["total_bytes"] == summary["bytes_restored"] == 8000
    assert summary["files_skipped"] == summary["bytes_skipped"] == summary["files_deleted"] == 0
    assert summary["dirs_restored"] >= 1 and summary["snapshot"]["short_id"]


def test_restore_shows_the_snapshot_time_as_snapshots_does(cli: CLI, tmp_path: Path) -> None:
    _backed_up(cli, tmp_path)
    zone = {"TZ": "EST5EDT"}
    done = cli.run("restore", "latest", "--target", str(tmp_path / "out"), env=zone, check=True)
    found = re.search(r" of (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+) to ", done.stdout)
    assert found, done.stdout
    shown = found.group(1)
    assert shown.endswith((" EST", " EDT"))
    listing = cli.run("snapshots", env=zone, check=True).stdout
    assert shown in listing
