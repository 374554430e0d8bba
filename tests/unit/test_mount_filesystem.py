"""The mounted filesystem's answers, without FUSE, over a real repository and backup."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from tests.integration.maint_helpers import backup

from keyark.context import OperationContext
from keyark.mount.cache import BlobCache
from keyark.mount.filesystem import SnapshotFilesystem
from keyark.mount.names import time_name
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot

ODD = os.fsdecode(b"caf\xe9-\xff.key")  # not UTF-8: the exact bytes must come back


def make_source(root: Path) -> Path:
    (root / "tls").mkdir(parents=True)
    (root / "tls" / "server.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    os.chmod(root / "tls" / "server.key", 0o640)
    (root / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    (root / ODD).write_bytes(b"odd name")
    os.symlink("tls/server.key", root / "current.key")
    os.mkfifo(root / "pipe")
    os.setxattr(root / "tls" / "server.key", "user.comment", b"tls key")
    os.utime(root / "tls" / "server.key", ns=(1_700_000_000_123_456_789,) * 2)
    return root


class Mounted:
    """A filesystem over ``repo`` whose snapshot list is what the test sets."""

    def __init__(self, repo: Repository, snapshots: list[Snapshot], **kwargs: object) -> None:
        self.repo = repo
        self.snapshots = snapshots
        self.errors: list[tuple[str, Exception]] = []
        repo.blobs.load_index(reload=True)
        self.cache = BlobCache(repo.blobs.load_blob, 8 * 1024 * 1024)
        self.fs = SnapshotFilesystem(
            lambda: list(self.snapshots),
            repo.blobs.load_tree,
            self.cache,
            repo.blobs.index.raw_length,
            on_error=lambda path, error: self.errors.append((path, error)),
            **kwargs,  # type: ignore[arg-type]
        )


def snapshot_path(snapshot: Snapshot, source: Path, *below: str) -> str:
    return "/".join(["", "snapshots", time_name(snapshot.time), *source.parts[1:], *below])


def read_all(fs: SnapshotFilesystem, path: str, chunk: int = 131072) -> bytes:
    handle = fs.open(path, os.O_RDONLY)
    try:
        pieces, offset = [], 0
        while piece := fs.read(handle, chunk, offset, path):
            pieces.append(piece)
            offset += len(piece)
        return b"".join(pieces)
    finally:
        fs.release(handle)


def test_tree_attributes_and_content_match_the_source(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    source = make_source(tmp_path / "src")
    snapshot = backup(repo, source, context)
    mounted = Mounted(repo, [snapshot])
    fs = mounted.fs
    here = snapshot_path(snapshot, source)
    listing = fs.listing(here)
    assert sorted(listing) == sorted([".", "..", "big.bin", "current.key", "pipe", "tls", ODD])
    key = here + "/tls/server.key"
    attributes = fs.attributes(key)
    real = os.lstat(source / "tls" / "server.key")
    assert attributes["st_mode"] == real.st_mode == stat.S_IFREG | 0o640
    assert attributes["st_size"] == real.st_size
    assert attributes["st_mtime"] == real.st_mtime_ns == 1_700_000_000_123_456_789
    assert (attributes["st_uid"], attributes["st_gid"]) == (real.st_uid, real.st_gid)
    assert stat.S_ISDIR(fs.attributes(here + "/tls")["st_mode"])
    link = fs.attributes(here + "/current.key")
    assert stat.S_ISLNK(link["st_mode"]) and link["st_size"] == len("tls/server.key")
    assert fs.read_link(here + "/current.key") == "tls/server.key"
    assert stat.S_ISFIFO(fs.attributes(here + "/pipe")["st_mode"])
    # A name that is not UTF-8 is found and read by its exact bytes.
    assert read_all(fs, f"{here}/{ODD}") == b"odd name"
    assert read_all(fs, key) == (source / "tls" / "server.key").read_bytes()
    assert fs.xattr_names(key) == ["user.comment"]
    assert fs.xattr(key, "user.comment") == b"tls key"
    with pytest.raises(OSError) as no_attribute:
        fs.xattr(key, "user.other")
    assert no_attribute.value.errno == errno.ENODATA


def test_large_file_reads_at_any_offset_across_blob_boundaries(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    source = make_source(tmp_path / "src")
    snapshot = backup(repo, source, context)
    mounted = Mounted(repo, [snapshot])
    fs, path = mounted.fs, snapshot_path(snapshot, source, "big.bin")
    expected = (source / "big.bin").read_bytes()
    handle = fs.open(path, os.O_RDONLY)
    node_blobs = fs.opened(handle).blobs
    assert len(node_blobs) >= 2, "the file must span several blobs"
    starts = fs.opened(handle).starts
    for offset, size in [
        (0, 4096),
        (starts[1] - 100, 200),  # across the first boundary
        (starts[1], 1),
        (len(expected) - 10, 4096),  # short read at the end
        (len(expected), 10),  # at the end: nothing
        (len(expected) + 5, 10),
        (1234567, 2 * 1024 * 1024),
    ]:
        assert fs.read(handle, size, offset, path) == expected[offset : offset + size], offset
    assert read_all(fs, path, chunk=1_000_003) == expected
    fs.release(handle)
    assert fs.stats.files_opened == 2 and mounted.cache.stats.hits > 0


def test_layout_paths_links_and_errors(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    source = make_source(tmp_path / "src")
    first = backup(repo, source, context, tags=["daily"])
    (source / "new.pem").write_bytes(b"new")
    second = backup(repo, source, context, host="other")
    fs = Mounted(repo, [first, second]).fs
    assert fs.listing("/") == [".", "..", "snapshots", "hosts", "tags", "ids"]
    # Two backups in one second are named <time> and <time>-1 (in order of time, then id).
    named = sorted(n for n in fs.listing("/snapshots") if n not in {".", "..", "latest"})
    assert len(named) == 2 and named[0].startswith(time_name(first.time))
    first_name, second_name = named
    assert fs.read_link("/snapshots/latest") == second_name
    assert fs.read_link("/hosts/other/latest") == second_name
    assert fs.read_link("/tags/daily/latest") == first_name
    assert "new.pem" in fs.listing(f"/hosts/other/{second_name}{source}")
    assert "new.pem" not in fs.listing(f"/ids/{first.short_id}{source}")
    assert stat.S_ISLNK(fs.attributes("/snapshots/latest")["st_mode"])
    root_of_snapshot = fs.attributes(f"/snapshots/{first_name}")
    assert stat.S_IMODE(root_of_snapshot["st_mode"]) == 0o555
    with pytest.raises(OSError) as missing:
        fs.attributes("/snapshots/1999-01-01T00:00:00+00:00")
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(OSError) as not_dir:
        fs.attributes(snapshot_path(first, source, "big.bin", "below"))
    assert not_dir.value.errno == errno.ENOTDIR
    with pytest.raises(OSError) as read_only:
        fs.open(snapshot_path(first, source, "big.bin"), os.O_RDWR)
    assert read_only.value.errno == errno.EROFS
    with pytest.raises(OSError) as a_dir:
        fs.open(snapshot_path(first, source, "tls"), os.O_RDONLY)
    assert a_dir.value.errno == errno.EISDIR
    with pytest.raises(OSError) as not_link:
        fs.read_link(snapshot_path(first, source, "big.bin"))
    assert not_link.value.errno == errno.EINVAL


def test_agent_snapshots_hide_setuid_bits_and_privileged_xattrs(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "tool").write_bytes(b"#!/bin/sh\n")
    os.chmod(source / "tool", 0o4755)
    os.setxattr(source / "tool", "user.note", b"kept")
    privileged = "trusted.keyark-test" if os.geteuid() == 0 else None  # trusted.*: root only
    if privileged is not None:
        os.setxattr(source / "tool", privileged, b"dropped")
    snapshot = backup(repo, source, context)
    path = snapshot_path(snapshot, source, "tool")
    plain = Mounted(repo, [snapshot]).fs
    assert stat.S_IMODE(plain.attributes(path)["st_mode"]) == 0o4755  # the positive control
    dropped = Mounted(repo, [snapshot], drops_privileges=lambda _s: True).fs
    assert stat.S_IMODE(dropped.attributes(path)["st_mode"]) == 0o755
    assert "user.note" in dropped.xattr_names(path)
    if privileged is not None:
        assert privileged in plain.xattr_names(path)
        assert privileged not in dropped.xattr_names(path)


def test_new_snapshots_appear_after_the_refresh_interval(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    source = make_source(tmp_path / "src")
    first = backup(repo, source, context)
    now = [0.0]
    mounted = Mounted(repo, [first], refresh_seconds=30.0, clock=lambda: now[0])
    second = backup(repo, source, context, host="later")
    mounted.snapshots.append(second)
    assert "later" not in mounted.fs.listing("/hosts")  # not yet due
    now[0] = 31.0
    assert "later" in mounted.fs.listing("/hosts")


def test_a_damaged_blob_reads_as_eio_and_is_reported(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    source = make_source(tmp_path / "src")
    snapshot = backup(repo, source, context)
    mounted = Mounted(repo, [snapshot])
    path = snapshot_path(snapshot, source, "tls", "server.key")
    assert read_all(mounted.fs, path) == (source / "tls" / "server.key").read_bytes()
    # Damage the pack holding the key file's blob; a new mount has nothing cached.
    handle = mounted.fs.open(path, os.O_RDONLY)
    blob_id = mounted.fs.opened(handle).blobs[0]
    location = repo.blobs.index.get(blob_id)
    assert location is not None
    pack = next(p for p in (tmp_path / "repo" / "data").rglob(location.pack_id.hex()))
    data = bytearray(pack.read_bytes())
    data[location.offset + 5] ^= 0xFF
    os.chmod(pack, 0o600)
    pack.write_bytes(bytes(data))
    damaged = Mounted(repo, [snapshot])
    with pytest.raises(OSError) as failed:
        read_all(damaged.fs, path)
    assert failed.value.errno == errno.EIO
    assert damaged.errors and damaged.errors[0][0] == path
