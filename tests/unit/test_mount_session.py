"""The mount's checks and process plumbing, without mounting anything."""

from __future__ import annotations

import ctypes.util
import os
import signal
from pathlib import Path

import pytest

from keyark.errors import Hint, MountError
from keyark.mount.session import (
    check_fuse_device,
    check_mountpoint,
    libfuse_signals,
    without_secret_variables,
)


def test_mountpoint_must_be_an_existing_empty_directory(tmp_path: Path) -> None:
    empty = tmp_path / "mnt"
    empty.mkdir()
    assert check_mountpoint(str(empty)) == str(empty.resolve())
    (tmp_path / "file").write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / ".hidden").write_text("x")
    for path, words in [
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "file", "is not a directory"),
        (full, "is not empty"),
    ]:
        with pytest.raises(MountError) as refused:
            check_mountpoint(str(path))
        assert words in str(refused.value) and refused.value.hint == Hint.MOUNTPOINT


def test_a_missing_fuse_device_is_named(tmp_path: Path) -> None:
    check_fuse_device(os.devnull)  # exists and opens read-write: accepted
    device = str(tmp_path / "fuse")
    with pytest.raises(MountError) as refused:
        check_fuse_device(device)
    assert device in str(refused.value) and refused.value.hint == Hint.FUSE
    assert refused.value.exit_code == 1


def test_secret_variables_are_out_of_the_environment_while_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYARK_PASSWORD", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "abc")
    monkeypatch.setenv("KEYARK_MOUNT_TEST_PLAIN", "kept")
    with without_secret_variables():
        assert "KEYARK_PASSWORD" not in os.environ
        assert "AWS_SECRET_ACCESS_KEY" not in os.environ
        assert os.environ["KEYARK_MOUNT_TEST_PLAIN"] == "kept"
    assert os.environ["KEYARK_PASSWORD"] == "hunter2"  # back afterwards


def test_signal_handlers_are_the_default_while_libfuse_serves() -> None:
    def handler(_number: int, _frame: object) -> None:
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with libfuse_signals():
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
            assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_libfuse3_is_preferred_and_the_environment_is_left_as_it_was() -> None:
    if ctypes.util.find_library("fuse3") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("libfuse3 (Debian's fuse3) is needed in CI")
        pytest.skip("no libfuse3")
    from keyark.mount.fuse_adapter import fuse_major, load_fuse

    assert "FUSE_LIBRARY_NAME" not in os.environ
    assert fuse_major(load_fuse()) == 3
    assert "FUSE_LIBRARY_NAME" not in os.environ
