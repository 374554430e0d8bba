"""``--limit-upload`` / ``--limit-download`` through the installed command, within 10%.

The transfer part is measured by the operation's own ``duration_seconds`` (it leaves
out start-up and Argon2, which vary with the machine's load), and compared with an
unthrottled run of the same operation: the difference is the time the limit added,
which must be the transferred bytes over the limit, within 10%.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.e2e.remote import make_remote

MIB = 1024 * 1024
LIMIT_KIB = 2048


def _assert_within_limit(throttled: float, free: float, expected: float) -> None:
    """The limit is honoured within 10%: the throttled transfer never ran faster than the
    limit allows (independent of load), and it added at most 10% more than the limit
    implies over the unthrottled run. (A difference of the two runs alone failed when a
    loaded machine slowed the unthrottled run.)"""
    assert throttled >= 0.9 * expected, (throttled, expected)
    assert throttled - free <= 1.1 * expected, (throttled, free, expected)


@pytest.mark.parametrize("kind", ["local", "s3", "sftp"])
def test_limits_honoured_within_ten_percent_on_10_mib(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "random.bin").write_bytes(os.urandom(10 * MIB))
    free = make_remote(kind, request, tmp_path)
    limited = make_remote(kind, request, tmp_path)
    for remote in (free, limited):
        remote.run("init", check=True)
    rate = LIMIT_KIB * 1024

    unthrottled = free.json("backup", str(source))
    throttled = limited.json("backup", str(source), "--limit-upload", str(LIMIT_KIB))
    assert throttled["bytes_stored"] >= 10 * MIB
    expected = throttled["bytes_stored"] / rate
    _assert_within_limit(throttled["duration_seconds"], unthrottled["duration_seconds"], expected)

    plain = free.json("restore", "latest", "--target", str(tmp_path / "a"))
    slow = free.json(
        "restore", "latest", "--target", str(tmp_path / "b"), "--limit-download", str(LIMIT_KIB)
    )
    assert slow["bytes_restored"] == plain["bytes_restored"] == 10 * MIB
    expected = unthrottled["bytes_stored"] / rate  # the pack is read once
    _assert_within_limit(slow["duration_seconds"], plain["duration_seconds"], expected)
    assert (tmp_path / "b" / source.relative_to("/") / "random.bin").read_bytes() == (
        source / "random.bin"
    ).read_bytes()


def test_bad_limits_are_one_line(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    remote = make_remote("local", request, tmp_path)
    for flag, value in (("--limit-upload", "fast"), ("--limit-download", "0")):
        result = remote.run("init", flag, value)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip() == f"keyark: {flag} {value!r}: not a positive number"
    result = remote.run("init", env={"KEYARK_CONNECTIONS": "0"})
    assert result.stderr.strip() == "keyark: --connections '0': not a positive number"
