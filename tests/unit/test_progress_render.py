"""The terminal progress bar and times (issue 11 §2 "Progress"), rendered by rich."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from rich.console import Console

from keyark.cli.render import files_done, human_size, local_time, progress_bar
from keyark.events import Progress

KIB = 1024


def _rendered(current: str, width: int = 120) -> str:
    """The bar after three updates a second apart (so rich knows a speed and an ETA)."""
    console = Console(record=True, force_terminal=True, width=width)
    bar = progress_bar(console, "restore")
    clock = [100.0]
    bar.get_time = lambda: clock[0]
    task = bar.add_task("restore", total=None, files="", current="")
    for done in (512, 1024, 1536):
        event = Progress(
            operation="restore",
            phase="restore",
            files_done=done // 512,
            files_total=10,
            bytes_done=done * KIB,
            bytes_total=4096 * KIB,
            current=current,
        )
        bar.update(
            task,
            completed=event.bytes_done,
            total=event.bytes_total,
            files=files_done(event),
            current=current,
        )
        clock[0] += 1
    console.print(bar.get_renderable())
    return console.export_text()


def test_bar_shows_binary_units_files_eta_and_current_file() -> None:
    text = _rendered("/home/u/tls/leaf/e.pem")
    # The summary's units and format (human_size): 1.500 MiB, not rich's decimal "1.6 MB".
    assert f"{human_size(1536 * KIB)} / {human_size(4096 * KIB)}" in text
    assert "1.500 MiB / 4.000 MiB" in text and "MB" not in text.replace("MiB", "")
    assert "512.0 KiB/s" in text
    assert "3/10 files" in text
    assert "ETA 0:00:05" in text  # 2.5 MiB left at 512 KiB/s
    # Below the bar: the time elapsed and the current file.
    assert "\n  0:00:03 /home/u/tls/leaf/e.pem" in text


def test_bar_fits_an_80_column_terminal() -> None:
    text = _rendered("/home/u/tls/leaf/e.pem", width=80)
    bar_line = text.splitlines()[0]
    assert len(text.splitlines()) == 2 and len(bar_line) <= 80
    assert bar_line.endswith("1.500 MiB / 4.000 MiB 512.0 KiB/s 3/10 files ETA 0:00:05")


def test_long_current_file_keeps_its_name() -> None:
    long_path = "/home/u/" + "a-long-directory-name/" * 10 + "server.key"
    text = _rendered(long_path, width=80)
    line = text.splitlines()[-1]
    assert line.endswith("/server.key") and "\u2026" in line
    assert len(line) <= 80


def test_files_without_a_total_yet() -> None:
    assert files_done(Progress(operation="restore", phase="backup", files_done=7)) == "7 files"
    assert (
        files_done(Progress(operation="restore", phase="backup", files_done=7, files_total=9))
        == "7/9 files"
    )


def test_times_carry_their_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "EST5EDT")
    time.tzset()
    try:
        when = datetime(2024, 1, 15, 17, 30, 5, tzinfo=UTC)
        assert local_time(when) == "2024-01-15 12:30:05 EST"
    finally:
        monkeypatch.undo()
        time.tzset()
