"""Sources restic handles (issue 9, section 4): ACLs, xattrs and modes of directories,
FIFOs and device nodes, files that grow while they are read.

Each round trip compares the restored entries with the source through the system's
own view (``getfacl``, ``stat``, ``getxattr``), and each has a positive control showing
the comparison notices a loss. The growing file is grown deterministically from a hook
on the archiver's read, after the file was stat'ed and opened.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import stat
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import tree_state, warning_context
from tests.integration.maint_helpers import backup

from keyark.archiver import files
from keyark.archiver.backup import BackupOptions
from keyark.archiver.backup import backup as run_backup
from keyark.archiver.files import FileReader, FileResult
from keyark.archiver.progress import Tracker
from keyark.catalog.trees import resolve_path
from keyark.context import OperationContext
from keyark.errors import RestoreError
from keyark.events import Events
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import Node
from keyark.restorer.dump import dump
from keyark.restorer.plan import PathFilter, build_plan
from keyark.restorer.restorer import Restorer
from keyark.restorer.run import RestoreOptions, restore
from keyark.results import RestoreSummary

FIXED_NS = 1_600_000_000_123_456_789


# ----------------------------------------------------------------- helpers
def _acl_tools(tmp_path: Path) -> None:
    """Skip (with the reason) unless setfacl works on the test file system."""
    if shutil.which("setfacl") is None or shutil.which("getfacl") is None:
        pytest.skip("setfacl/getfacl missing: apt package acl (scripts/install-test-servers.sh)")
    probe = tmp_path / "acl-probe"
    probe.mkdir()
    result = subprocess.run(
        ["setfacl", "-m", "u:nobody:r", str(probe)], check=False, capture_output=True
    )
    probe.rmdir()
    if result.returncode != 0:
        pytest.skip(f"the test file system does not support ACLs: {result.stderr.decode()}")


def _setfacl(path: Path, *args: str) -> None:
    subprocess.run(["setfacl", *args, str(path)], check=True, capture_output=True)


def _getfacl(path: Path) -> list[str]:
    """The entry's ACL as getfacl prints it (access and default entries, numeric ids)."""
    result = subprocess.run(
        ["getfacl", "--omit-header", "--numeric", "--absolute-names", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if line]


def _restore(
    repo: Repository,
    snapshot: Snapshot,
    target: Path,
    context: OperationContext,
    verify: bool = True,
) -> RestoreSummary:
    return restore(repo, snapshot, RestoreOptions(str(target), verify=verify), context)


def _node(repo: Repository, snapshot: Snapshot, path: Path) -> Node:
    _tree, node = resolve_path(repo.blobs.load_tree, snapshot.tree, str(path))
    assert node is not None
    return node


def _restored(target: Path, source: Path) -> Path:
    return target / source.relative_to("/")


# ----------------------------------------------------------------- 1. directory ACLs, xattrs, mode
def _acl_tree(source: Path) -> dict[str, Path]:
    """A directory with access and default ACLs and a user xattr, a file with an ACL, and a
    read-only directory (so its mode must be set after its contents are written)."""
    shared = source / "shared"
    sealed = shared / "sealed"
    sealed.mkdir(parents=True)
    key = shared / "k.pem"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    (sealed / "inner.key").write_bytes(b"inner")
    os.chmod(shared, 0o750)
    _setfacl(shared, "-m", "u:nobody:rwx")  # group:: stays r-x, the mask becomes rwx
    _setfacl(shared, "-d", "-m", "g:nogroup:r-x")
    os.setxattr(shared, "user.keyark-note", b"shared keys")
    _setfacl(key, "-m", "u:nobody:r")
    os.chmod(sealed, 0o550)
    for path in (key, sealed / "inner.key", sealed, shared):
        os.utime(path, ns=(FIXED_NS, FIXED_NS))
    return {"shared": shared, "key": key, "sealed": sealed}


def test_directory_acls_xattrs_and_modes_round_trip(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    _acl_tools(tmp_path)
    source = tmp_path / "src"
    entries = _acl_tree(source)
    snapshot = backup(repo, source, context)
    target = tmp_path / "out"
    summary = _restore(repo, snapshot, target, context)
    assert summary.files_verified == 2

    for name, path in entries.items():
        restored = _restored(target, path)
        assert _getfacl(restored) == _getfacl(path), f"{name}: ACL differs"
        src_st, out_st = path.lstat(), restored.lstat()
        assert stat.S_IMODE(out_st.st_mode) == stat.S_IMODE(src_st.st_mode), name
        assert out_st.st_mtime_ns == src_st.st_mtime_ns == FIXED_NS, name
    shared = _restored(target, entries["shared"])
    assert os.getxattr(shared, "user.keyark-note") == b"shared keys"
    assert "group::r-x" in _getfacl(shared) and "default:group:65534:r-x" in _getfacl(shared)
    assert tree_state(_restored(target, source)) == tree_state(source)

    # Positive control: the comparison notices a lost ACL (what restore did before).
    _setfacl(shared, "-b")
    assert _getfacl(shared) != _getfacl(entries["shared"])


def test_dropped_acl_never_widens_the_group_permission(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    """Restoring without system.* xattrs (an agent's snapshot): the mode's group bits are the
    ACL mask (rwx); without the ACL the group gets what group:: allowed (r-x), not rwx."""
    _acl_tools(tmp_path)
    source = tmp_path / "src"
    shared = _acl_tree(source)["shared"]
    # Positive control: the source's mode shows the mask, wider than the owning group's r-x.
    assert stat.S_IMODE(shared.stat().st_mode) == 0o770
    snapshot = backup(repo, source, context)
    repo.blobs.load_index(reload=True)
    plan = build_plan(repo.blobs.load_tree, snapshot.tree, PathFilter([], []))
    target = tmp_path / "out"
    summary = RestoreSummary()
    tracker = Tracker(Events(), "restore")
    Restorer(repo, str(target), summary, tracker, drop_privileges=True).run(plan)
    assert not summary.failed, summary.errors
    restored = _restored(target, shared)
    assert stat.S_IMODE(restored.stat().st_mode) == 0o750
    assert "system.posix_acl_access" not in os.listxattr(restored)
    assert os.getxattr(restored, "user.keyark-note") == b"shared keys"


# ----------------------------------------------------------------- 2. FIFOs and devices
def _special_tree(source: Path, device: bool) -> Path:
    source.mkdir(parents=True)
    os.mkfifo(source / "pipe")
    os.chmod(source / "pipe", 0o620)  # not through the umask
    if device:
        os.mknod(source / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(source / "null", 0o640)
    (source / "plain.key").write_bytes(b"key")
    for name in ("pipe", "null") if device else ("pipe",):
        os.utime(source / name, ns=(FIXED_NS, FIXED_NS), follow_symlinks=False)
    return source


def test_fifo_and_char_device_round_trip_and_dump(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    source = _special_tree(tmp_path / "src", device=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(source / "agent.sock"))
    try:
        summary = run_backup(repo, BackupOptions([str(source)]), context)
    finally:
        listener.close()
    assert summary.complete
    note = f"{source}/agent.sock: skipped (a socket; the program that listens on it recreates it)"
    assert summary.warnings == [note]
    os.unlink(source / "agent.sock")
    snapshot = repo.snapshots.load(summary.snapshot_id)
    assert _node(repo, snapshot, source / "null").rdev == os.makedev(1, 3)

    target = tmp_path / "out"
    _restore(repo, snapshot, target, context)
    for name, is_type in (("pipe", stat.S_ISFIFO), ("null", stat.S_ISCHR)):
        src_st, out_st = (source / name).lstat(), (_restored(target, source) / name).lstat()
        assert is_type(out_st.st_mode), name
        assert out_st.st_mode == src_st.st_mode and out_st.st_rdev == src_st.st_rdev, name
        assert out_st.st_mtime_ns == FIXED_NS and out_st.st_uid == src_st.st_uid, name
    # Positive control: the comparison tells a FIFO from a missing or different entry.
    assert not stat.S_ISCHR((_restored(target, source) / "pipe").lstat().st_mode)

    out = io.BytesIO()
    dump(repo, snapshot, str(source), out, context)
    out.seek(0)
    with tarfile.open(fileobj=out) as archive:
        members = {Path(m.name).name: m for m in archive.getmembers()}
    assert members["pipe"].isfifo() and members["pipe"].mode == 0o620
    null = members["null"]
    assert null.ischr() and (null.devmajor, null.devminor) == (1, 3)
    assert members["plain.key"].isfile() and members["plain.key"].size == 3


def test_device_restore_without_root_is_a_warning(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating the source device node needs root")
    source = _special_tree(tmp_path / "src", device=True)
    snapshot = backup(repo, source, context)
    monkeypatch.setattr("keyark.restorer.restorer.os.geteuid", lambda: 1000)
    target = tmp_path / "out"
    ctx, warnings = warning_context(context.cache_dir)
    _restore(repo, snapshot, target, ctx)
    restored = _restored(target, source)
    assert stat.S_ISFIFO((restored / "pipe").lstat().st_mode)
    assert not (restored / "null").exists()
    assert any(f"{source}/null: device node not restored" in w for w in warnings), warnings


# ----------------------------------------------------------------- 3. files growing during backup
def _grow_on_read(
    monkeypatch: pytest.MonkeyPatch, path: Path, extra: bytes
) -> tuple[list[bool], Callable[[], None]]:
    """Append ``extra`` to ``path`` once, when the archiver starts reading it (after stat
    and open). Returns the list that records the hook firing and the grow action."""
    fired: list[bool] = []

    def grow() -> None:
        if not fired:
            fired.append(True)
            with open(path, "ab") as handle:
                handle.write(extra)

    original_small = files._read_all
    original_large = FileReader._read_large

    def read_all(fd: int, expected: int) -> bytes:
        grow()
        return original_small(fd, expected)

    def read_large(
        self: FileReader, name: str, fd: int, size: int, st: os.stat_result
    ) -> FileResult:
        grow()
        return original_large(self, name, fd, size, st)

    monkeypatch.setattr(files, "_read_all", read_all)
    monkeypatch.setattr(FileReader, "_read_large", read_large)
    return fired, grow


@pytest.mark.parametrize("size", [1000, files.SMALL_FILE + 70_000], ids=["small", "large"])
def test_file_growing_during_backup_records_the_size_read(
    repo: Repository,
    context: OperationContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    log = source / "audit.log"
    log.write_bytes(os.urandom(size))
    fired, _grow = _grow_on_read(monkeypatch, log, os.urandom(5000))
    snapshot = backup(repo, source, context)
    assert fired, "the hook must have grown the file during the read"

    node = _node(repo, snapshot, log)
    stored = sum(repo.blobs.index.raw_length(blob) or 0 for blob in node.content)
    assert node.size == stored == size + 5000 == log.stat().st_size
    target = tmp_path / "out"
    summary = _restore(repo, snapshot, target, context)
    assert summary.files_verified == 1
    assert (_restored(target, log)).read_bytes() == log.read_bytes()


def test_positive_control_size_disagreeing_with_content_fails_verify(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node whose recorded size is not its content's length: restore --verify must fail."""
    source = tmp_path / "src"
    source.mkdir()
    log = source / "audit.log"
    log.write_bytes(os.urandom(1000))
    original = FileReader._read

    def misreport(
        self: FileReader, path: str, fd: int, size: int, st: os.stat_result
    ) -> FileResult:
        result = original(self, path, fd, size, st)
        result.bytes_read += 7
        return result

    monkeypatch.setattr(FileReader, "_read", misreport)
    snapshot = backup(repo, source, context)
    monkeypatch.undo()
    node = _node(repo, snapshot, log)
    assert (
        node.size == 1007 and sum(repo.blobs.index.raw_length(b) or 0 for b in node.content) == 1000
    )
    with pytest.raises(RestoreError) as raised:
        _restore(repo, snapshot, tmp_path / "out", context)
    errors: list[str] = raised.value.summary.errors  # type: ignore[attr-defined]
    assert any("records 1007 bytes but its content holds 1000" in e for e in errors), errors
