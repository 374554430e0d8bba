"""Incremental backups: what is reused from the parent snapshot, and what never is.

An unchanged file keeps its content unread, an unchanged inode its extended
attributes and link target, an unchanged directory its tree id (nothing encoded or
hashed again); anything that changed (content, an extended attribute, a mode, a
damaged parent tree) is read and stored anew.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import pytest
from tests.conftest import make_tree

from keyark.archiver import walk
from keyark.archiver.backup import BackupOptions, backup
from keyark.archiver.parent import (
    MAX_GAP,
    MAX_SPAN,
    ParentListing,
    ParentTrees,
    _spans,
    unchanged_content,
)
from keyark.catalog.snapshots import find_snapshot
from keyark.context import OperationContext
from keyark.repo.index import BlobLocation
from keyark.repo.pack import pack_name
from keyark.repo.repository import Repository
from keyark.repo.tree import DIR, Node, encode_tree
from keyark.restorer.run import RestoreOptions, restore
from keyark.results import BackupSummary

XATTR = "user.keyark-test"


def _xattrs_supported(path: Path) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
    except OSError:
        return False
    return True


def _subtree(repo: Repository, tree: bytes, path: Path) -> bytes:
    """The tree id of directory ``path`` (absolute) in the snapshot tree ``tree``."""
    for part in path.parts[1:]:
        [node] = [n for n in repo.blobs.load_tree(tree) if n.name == part]
        assert node.type == DIR and node.subtree is not None
        tree = node.subtree
    return tree


def _node(repo: Repository, tree: bytes, path: Path) -> Node:
    [node] = [
        n for n in repo.blobs.load_tree(_subtree(repo, tree, path.parent)) if n.name == path.name
    ]
    return node


def _backup(
    repo: Repository, source: Path, context: OperationContext
) -> tuple[BackupSummary, bytes]:
    summary = backup(repo, BackupOptions([str(source)]), context)
    assert summary.complete, summary.errors
    snapshot = find_snapshot(repo, "latest", context)
    return summary, _subtree(repo, snapshot.tree, source)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = make_tree(tmp_path / "src")
    if not _xattrs_supported(root / "tls" / "server.key"):
        pytest.skip("no user extended attributes on this file system")
    os.setxattr(root / "tls" / "server.key", XATTR, b"first")
    (root / "ssh" / os.fsdecode(b"not-utf8-\xff\n")).write_bytes(b"hostile name")
    return root


def test_unchanged_tree_reused_and_every_change_seen(
    repo: Repository, source: Path, tmp_path: Path, context: OperationContext
) -> None:
    first, tree1 = _backup(repo, source, context)
    second, tree2 = _backup(repo, source, context)
    # Nothing changed below the source: the same tree, no directory re-encoded as changed.
    assert tree2 == tree1
    assert second.files_unchanged == first.files_new and second.bytes_read == 0
    assert second.dirs_changed == 0 and second.dirs_new == 0 and second.dirs_unchanged == 3
    key = source / "tls" / "server.key"
    snapshot = find_snapshot(repo, "latest", context)
    assert _node(repo, snapshot.tree, key).xattrs == {XATTR: b"first"}  # reused, not lost
    assert _node(repo, snapshot.tree, source / "current.crt").target == "tls/server.crt"

    # Positive controls: an extended attribute changes no content, size or mtime, only
    # the ctime; it must be read again, and the directories above it re-encoded.
    mtime = key.stat().st_mtime_ns
    os.setxattr(key, XATTR, b"second")
    assert key.stat().st_mtime_ns == mtime
    third, tree3 = _backup(repo, source, context)
    assert tree3 != tree1 and third.files_changed == 1  # a new ctime: read again
    snapshot = find_snapshot(repo, "latest", context)
    assert _node(repo, snapshot.tree, key).xattrs == {XATTR: b"second"}
    assert third.dirs_changed == 2  # tls and the source; ssh kept its tree
    assert _subtree(repo, snapshot.tree, source / "ssh") == _subtree(repo, tree1, Path("/ssh"))

    os.chmod(source / "ssh", 0o750)  # metadata of a directory only
    fourth, tree4 = _backup(repo, source, context)
    assert tree4 != tree3 and fourth.dirs_changed == 1
    snapshot = find_snapshot(repo, "latest", context)
    assert _node(repo, snapshot.tree, source / "ssh").mode == 0o750

    os.remove(source / "current.crt")  # a symlink replaced: a new target
    os.symlink("tls/server.key", source / "current.crt")
    _backup(repo, source, context)
    snapshot = find_snapshot(repo, "latest", context)
    assert _node(repo, snapshot.tree, source / "current.crt").target == "tls/server.key"

    target = tmp_path / "out"
    restore(repo, snapshot, RestoreOptions(str(target), verify=True), context)
    restored = target / source.relative_to("/")
    assert os.getxattr(restored / "tls" / "server.key", XATTR) == b"second"
    assert os.readlink(restored / "current.crt") == "tls/server.key"


def test_read_ahead_asks_only_for_files_to_read(
    repo: Repository, source: Path, context: OperationContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    submit = walk.Prefetcher.submit

    def recording(self: walk.Prefetcher, dir_fd: int, names: list[str]) -> None:
        asked.extend(names)
        submit(self, dir_fd, names)

    monkeypatch.setattr(walk.Prefetcher, "submit", recording)
    _backup(repo, source, context)
    assert "server.key" in asked and "big.bin" in asked  # the first backup reads them all
    asked.clear()
    _backup(repo, source, context)
    assert asked == []
    (source / "tls" / "server.crt").write_text("renewed\n")
    summary, _tree = _backup(repo, source, context)
    assert asked == ["server.crt"] and summary.files_changed == 1


def test_damaged_parent_tree_costs_a_reread(
    repo: Repository, source: Path, context: OperationContext
) -> None:
    _backup(repo, source, context)
    snapshot = find_snapshot(repo, "latest", context)
    tls_tree = _subtree(repo, snapshot.tree, source / "tls")
    location = repo.blobs.index.get(tls_tree)
    assert location is not None
    path = Path(repo.backend.root) / pack_name(location.pack_id)  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    data[location.offset + 4] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    summary, _tree = _backup(repo, source, context)
    # The two files below tls are read again (as new: their parent listing is unknown).
    assert summary.files_new == 2 and summary.files_unchanged == 5


def test_parent_listing_shape_checked() -> None:
    node = Node(name="a", type="file", size=3, mtime_ns=5, ctime_ns=6, inode=7, content=[b"x" * 32])
    listing = ParentListing.decode(encode_tree([node]))
    assert listing is not None and listing.same_as([node]) and len(listing) == 1
    changed = Node(**{**{f: getattr(node, f) for f in Node.__slots__}, "mode": 0o644})
    assert not listing.same_as([changed])
    st = os.stat_result((0, 7, 0, 1, 0, 0, 3, 0, 0, 0, 0.0, 0.0, 0.0, 0, 5, 6))
    assert unchanged_content(listing.get("a"), st) == [b"x" * 32]
    # Malformed shapes count as no parent; malformed content is never reused.
    bad = [
        {"v": 2, "nodes": []},
        {"v": 1, "nodes": [1]},
        {"v": 1, "nodes": [{"n": b"a"}, {"n": b"a"}]},
        {"v": 1, "nodes": [{"n": "a"}]},
    ]
    for document in bad:
        assert ParentListing.decode(msgpack.packb(document, use_bin_type=True)) is None
    short = {**node.to_dict(), "c": [b"x" * 31]}
    odd = ParentListing.decode(msgpack.packb({"v": 1, "nodes": [short]}, use_bin_type=True))
    assert odd is not None and unchanged_content(odd.get("a"), st) is None


def test_read_ahead_gives_the_verified_trees(
    repo: Repository, source: Path, context: OperationContext
) -> None:
    _backup(repo, source, context)
    snapshot = find_snapshot(repo, "latest", context)
    ids = [_subtree(repo, snapshot.tree, source / name) for name in ("ssh", "tls")]
    trees = ParentTrees(repo.blobs)
    trees.read_ahead([*ids, b"\0" * 32])  # an id the index lacks is passed over
    for tree_id in ids:
        assert trees.load(tree_id) == repo.blobs.load_blob(tree_id)
    assert trees._ahead == {}  # taken once: nothing held after


def test_spans_cut_where_far_apart_or_too_long() -> None:
    def at(offset: int, length: int = 100) -> BlobLocation:
        return BlobLocation(bytes(32), b"p" * 32, 1, offset, length, length, 0)

    near = [at(0), at(100), at(100 + 100 + MAX_GAP)]
    assert [len(span) for span in _spans(near)] == [3]
    far = [at(0), at(100 + MAX_GAP + 1)]
    assert [len(span) for span in _spans(far)] == [1, 1]
    long = [at(0, MAX_SPAN), at(MAX_SPAN, 1)]
    assert [len(span) for span in _spans(long)] == [1, 1]
