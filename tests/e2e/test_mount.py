"""``keyark mount`` end to end: the installed command serves snapshots over FUSE.

Each test mounts in a subprocess, waits for the mount to appear, reads through it and
compares with the source byte for byte, then unmounts with a signal and checks the
process exits 0 and leaves no mount (and no lock) behind. Where FUSE cannot mount
(no /dev/fuse, no permission) the tests are skipped, and fail under CI.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD, keyark_binary
from tests.e2e.test_cli import assert_one_line_error

from keyark import Client, ops
from keyark.errors import CancelledError

ODD = b"caf\xe9-\xff.key"  # a name that is not UTF-8
BIG = 5 * 1024 * 1024 + 321
MOUNT_WAIT = 30.0


def fuse_unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"FUSE is needed in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fuse_device() -> None:
    if not os.path.exists("/dev/fuse"):
        fuse_unavailable("no /dev/fuse")
    if os.geteuid() != 0 and shutil.which("fusermount3") is None:
        fuse_unavailable("no fusermount3 (Debian's fuse3)")


def make_source(root: Path) -> Path:
    (root / "tls").mkdir(parents=True)
    (root / "tls" / "server.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIIE\n")
    os.chmod(root / "tls" / "server.key", 0o600)
    os.setxattr(root / "tls" / "server.key", "user.comment", b"tls key")
    (root / "big.bin").write_bytes(os.urandom(BIG))
    (root / os.fsdecode(ODD)).write_bytes(b"exact bytes")
    os.symlink("tls/server.key", root / "current.key")
    return root


def wait_mounted(process: subprocess.Popen[bytes], mountpoint: Path) -> None:
    """Until ``mountpoint`` is a mount (bounded); the process must not end first."""
    deadline = time.monotonic() + MOUNT_WAIT
    while not os.path.ismount(mountpoint):
        if process.poll() is not None:
            _, err = process.communicate()
            if b"FUSE" in err or b"fuse" in err:
                fuse_unavailable(err.decode(errors="replace").strip())
            raise AssertionError(f"keyark mount exited {process.returncode}: {err!r}")
        assert time.monotonic() < deadline, "the mount did not appear"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[CLI, Path]:
    """One repository for the module (mounts only read it): two snapshots of a tree."""
    home = tmp_path_factory.mktemp("mount")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    env.update(
        KEYARK_REPOSITORY=str(home / "repo"),
        KEYARK_PASSWORD=PASSWORD,
        KEYARK_CACHE_DIR=str(home / "cache"),
        KEYARK_STATE_DIR=str(home / "state"),
        KEYARK_TEST_FAST_KDF=os.environ.get("KEYARK_TEST_FAST_KDF", "1"),
    )
    cli = CLI(env, home / "repo", home / "cache")
    source = make_source(home / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), "--tag", "keys", check=True)
    (source / "new.pem").write_bytes(b"second")
    cli.run("backup", str(source), "--host", "other", check=True)
    return cli, source


@pytest.fixture
def cli(shared: tuple[CLI, Path]) -> CLI:
    """The module's repository (instead of a new one per test)."""
    return shared[0]


@pytest.fixture
def repository(shared: tuple[CLI, Path]) -> Path:
    """The source tree the module's snapshots were made of."""
    return shared[1]


@contextmanager
def serving(cli: CLI, mountpoint: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``keyark mount MOUNTPOINT`` running, once the mount is there; afterwards the
    process is gone and nothing stays mounted, whatever the test did."""
    process = subprocess.Popen(
        [keyark_binary(), "mount", str(mountpoint)],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_mounted(process, mountpoint)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if os.path.ismount(mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)


@pytest.fixture
def mounted(cli: CLI, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    with serving(cli, mountpoint) as process:
        yield process, mountpoint


def lock_names(cli: CLI) -> set[str]:
    return {path.name for path in (cli.repo / "locks").iterdir()}


def unmount_with(
    process: subprocess.Popen[bytes], mountpoint: Path, signum: int, cli: CLI
) -> tuple[str, str]:
    """Send ``signum``; the mount must end cleanly (exit 0, unmounted, its lock gone)."""
    locked = lock_names(cli)
    assert locked, "the mount holds a shared lock"
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert not os.path.ismount(mountpoint)
    assert b"Traceback" not in err and PASSWORD.encode() not in out + err
    assert len(lock_names(cli)) == len(locked) - 1, "the mount's lock was left behind"
    return out.decode(), err.decode()


def test_mount_serves_the_snapshots_and_unmounts_on_sigint(
    cli: CLI, repository: Path, mounted: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, mnt = mounted
    source = repository
    assert sorted(os.listdir(mnt)) == ["hosts", "ids", "snapshots", "tags"]
    times = sorted(n for n in os.listdir(mnt / "snapshots") if n != "latest")
    assert len(times) == 2 and "latest" in os.listdir(mnt / "snapshots")
    assert os.readlink(mnt / "snapshots" / "latest") == times[1]
    assert os.readlink(mnt / "hosts" / "other" / "latest") == times[1]
    assert os.listdir(mnt / "tags" / "keys") == [times[0], "latest"]
    first = mnt / "snapshots" / times[0] / source.relative_to("/")
    latest = mnt / "snapshots" / "latest" / source.relative_to("/")
    assert "new.pem" not in os.listdir(first) and (latest / "new.pem").read_bytes() == b"second"
    # Every entry: the same type, mode, mtime, size and content (links: target).
    for entry in ["tls", "tls/server.key", "big.bin", "current.key", os.fsdecode(ODD)]:
        mine, theirs = os.lstat(latest / entry), os.lstat(source / entry)
        assert mine.st_mode == theirs.st_mode, entry
        assert mine.st_mtime_ns == theirs.st_mtime_ns, entry
        if stat.S_ISREG(theirs.st_mode):
            assert mine.st_size == theirs.st_size
            assert (latest / entry).read_bytes() == (source / entry).read_bytes(), entry
    assert os.readlink(latest / "current.key") == "tls/server.key"
    assert os.getxattr(latest / "tls" / "server.key", "user.comment") == b"tls key"
    # The name that is not UTF-8 comes back byte for byte.
    assert ODD in os.listdir(os.fsencode(latest))
    with open(os.path.join(os.fsencode(latest), ODD), "rb") as handle:
        assert handle.read() == b"exact bytes"
    # The large file, read at offsets (across blob boundaries) and backwards.
    expected = (source / "big.bin").read_bytes()
    descriptor = os.open(latest / "big.bin", os.O_RDONLY)
    try:
        for offset in [BIG - 1000, 3, 1024 * 1024 - 7, 2 * 1024 * 1024 + 11, 0]:
            assert os.pread(descriptor, 70000, offset) == expected[offset : offset + 70000]
        assert os.pread(descriptor, 10, BIG) == b""
    finally:
        os.close(descriptor)
    # Read-only.
    with pytest.raises(OSError) as refused:
        (latest / "tls" / "server.key").write_bytes(b"changed")
    assert refused.value.errno == errno.EROFS
    out, _ = unmount_with(process, mnt, signal.SIGINT, cli)
    assert f"mounted at {mnt}; Ctrl-C to unmount" in out


def test_sigterm_unmounts_cleanly(
    cli: CLI, repository: Path, mounted: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, mnt = mounted
    key = mnt / "snapshots" / "latest" / repository.relative_to("/") / "tls" / "server.key"
    assert key.read_bytes() == (repository / "tls" / "server.key").read_bytes()
    unmount_with(process, mnt, signal.SIGTERM, cli)


def test_bad_mountpoints_are_one_line_errors(cli: CLI, tmp_path: Path) -> None:
    assert_one_line_error(cli.run("mount", str(tmp_path / "missing")), 1)
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    result = cli.run("mount", str(full))
    assert_one_line_error(result, 1)
    assert "is not empty" in result.stderr


def test_client_cancel_unmounts(cli: CLI, repository: Path, tmp_path: Path) -> None:
    """The Python API: ``mount`` blocks until ``Client.cancel()`` unmounts it."""
    mountpoint = tmp_path / "api-mnt"
    mountpoint.mkdir()
    client = Client(repository=str(cli.repo), password=PASSWORD, cache_dir=cli.cache)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            client.run("mount", ops.MountOptions(mountpoint=str(mountpoint)))
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + MOUNT_WAIT
        while not os.path.ismount(mountpoint):
            assert worker.is_alive(), outcome
            assert time.monotonic() < deadline, "the mount did not appear"
            time.sleep(0.05)
        key = mountpoint / "snapshots" / "latest" / repository.relative_to("/") / "current.key"
        assert os.readlink(key) == "tls/server.key"
        client.cancel()
        worker.join(timeout=60)
        assert not worker.is_alive()
    finally:
        if os.path.ismount(mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)
    assert isinstance(outcome[0], CancelledError)
    assert not os.path.ismount(mountpoint)


def test_a_stale_mount_is_named_and_can_be_mounted_again_once_unmounted(
    cli: CLI, repository: Path, mounted: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, mnt = mounted
    process.kill()  # no clean-up: the mount stays, with nobody serving it
    process.wait()
    with pytest.raises(OSError) as stale:
        os.listdir(mnt)
    assert stale.value.errno == errno.ENOTCONN  # the precondition: a stale mount
    result = cli.run("mount", str(mnt))
    assert_one_line_error(result, 1)
    assert "process is gone" in result.stderr
    subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    with serving(cli, mnt) as again:
        assert "latest" in os.listdir(mnt / "snapshots")
        unmount_with(again, mnt, signal.SIGINT, cli)
