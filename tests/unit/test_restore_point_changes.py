"""What a restore will change in an existing target (the restore point's selection)."""

from __future__ import annotations

import os
from pathlib import Path

from keyark.archiver.sources import VirtualDir
from keyark.repo.tree import DIR, FILE, SYMLINK, Node
from keyark.restorer.changes import TargetChanges, find_changes
from keyark.restorer.plan import PathFilter, build_plan
from keyark.restorer.restore_point import selection

MTIME = 1_600_000_000_000_000_000
TREES = {
    b"root": [
        Node(name="tls", type=DIR, subtree=b"tls"),
        Node(name="new", type=DIR, subtree=b"new"),
        Node(name="via-link", type=DIR, subtree=b"empty"),
        Node(name="current.crt", type=SYMLINK, target="tls/a.crt"),
    ],
    b"tls": [
        Node(name="a.crt", type=FILE, size=5, mtime_ns=MTIME),
        Node(name="same.crt", type=FILE, size=4, mtime_ns=MTIME),
        Node(name="fresh.crt", type=FILE, size=1),
    ],
    b"new": [Node(name="x.pem", type=FILE, size=1)],
    b"empty": [Node(name="inside", type=FILE, size=1)],
}


def _target(root: Path, outside: Path) -> Path:
    (root / "tls").mkdir(parents=True)
    (root / "tls" / "a.crt").write_text("old!!!")
    (root / "tls" / "same.crt").write_text("same")
    os.utime(root / "tls" / "same.crt", ns=(MTIME, MTIME))
    (root / "tls" / "mine.txt").write_text("untouched")
    outside.mkdir()
    (root / "via-link").symlink_to(outside)  # the restore refuses to write through it
    (root / "current.crt").symlink_to("elsewhere")
    return root


def _changes(target: Path, overwrite: str, delete: bool = False) -> TargetChanges | None:
    plan = build_plan(TREES.__getitem__, b"root", PathFilter())
    return find_changes(str(target), plan, overwrite, PathFilter() if delete else None)


def test_always_saves_every_existing_entry_it_replaces(tmp_path: Path) -> None:
    changes = _changes(_target(tmp_path / "out", tmp_path / "outside"), "always")
    assert changes is not None and changes.touches_existing
    assert changes.replaced == {("tls", "a.crt"), ("tls", "same.crt"), ("current.crt",)}
    assert changes.dirs == {("tls",)}
    assert changes.created == {("new",), ("tls", "fresh.crt")}  # top-most only


def test_if_changed_and_never_save_less(tmp_path: Path) -> None:
    target = _target(tmp_path / "out", tmp_path / "outside")
    if_changed = _changes(target, "if-changed")
    assert if_changed is not None
    assert if_changed.replaced == {("tls", "a.crt"), ("current.crt",)}  # same.crt matches
    never = _changes(target, "never")
    assert never is not None and never.replaced == set() and not never.touches_existing


def test_delete_saves_what_it_removes(tmp_path: Path) -> None:
    changes = _changes(_target(tmp_path / "out", tmp_path / "outside"), "never", delete=True)
    assert changes is not None and ("tls", "mine.txt") in changes.replaced


def test_no_target_no_changes(tmp_path: Path) -> None:
    assert _changes(tmp_path / "missing", "always") is None


def test_selection_saves_replaced_whole_and_dirs_as_listings(tmp_path: Path) -> None:
    changes = _changes(_target(tmp_path / "out", tmp_path / "outside"), "always")
    assert changes is not None
    root = selection(changes, "/srv/out")
    out = root.children["srv"]
    assert isinstance(out, VirtualDir)
    target = out.children["out"]
    assert isinstance(target, VirtualDir)
    tls = target.children["tls"]
    assert isinstance(tls, VirtualDir) and tls.path == "/srv/out/tls"
    assert tls.children == {"a.crt": "/srv/out/tls/a.crt", "same.crt": "/srv/out/tls/same.crt"}
    assert target.children["current.crt"] == "/srv/out/current.crt"
    assert "new" not in target.children and "mine.txt" not in tls.children
