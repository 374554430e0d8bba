"""``restore --delete`` below the CLI: what the plan lists and what the remover touches."""

from __future__ import annotations

from pathlib import Path

from keyark.errors import IntegrityError
from keyark.repo.tree import DIR, FILE, Node
from keyark.restorer.dirs import DirHandles
from keyark.restorer.extras import ExtraRemover
from keyark.restorer.plan import PathFilter, build_plan

TREES = {
    b"root": [
        Node(name="tls", type=DIR, subtree=b"tls"),
        Node(name="broken", type=DIR, subtree=b"broken"),
        Node(name="a.crt", type=FILE),
    ],
    b"tls": [Node(name="leaf.crt", type=FILE)],
}


def _load(tree_id: bytes) -> list[Node]:
    if tree_id not in TREES:
        raise IntegrityError("damaged tree")
    return TREES[tree_id]


def _remove(target: Path, dry_run: bool = False) -> list[str]:
    plan = build_plan(_load, b"root", PathFilter())
    removed: list[str] = []
    failed: list[str] = []
    handles = DirHandles(str(target), create=False, shown=plan.shown)
    try:
        ExtraRemover(
            plan,
            PathFilter(),
            lambda shown, _is_dir: removed.append(shown),
            lambda shown, reason: failed.append(f"{shown}: {reason}"),
            dry_run=dry_run,
        ).run(handles)
    finally:
        handles.close()
    assert not failed
    return sorted(removed)


def test_plan_lists_snapshot_names_but_not_unreadable_directories() -> None:
    plan = build_plan(_load, b"root", PathFilter())
    assert plan.listed[()] == {"tls", "broken", "a.crt"}
    assert plan.listed[("tls",)] == {"leaf.crt"}
    assert ("broken",) not in plan.listed  # its names are unknown
    assert plan.unreadable and plan.unreadable[0][0] == "/broken/..."


def test_unreadable_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "leaf.crt").write_text("kept")
    (tmp_path / "tls" / "stale.crt").write_text("extra")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "maybe-in-snapshot.key").write_text("unknown: kept")
    (tmp_path / ".keyark-restore-1-abc-0").write_text("another restore's temporary file")
    assert _remove(tmp_path, dry_run=True) == ["/tls/stale.crt"]
    assert (tmp_path / "tls" / "stale.crt").exists()
    assert _remove(tmp_path) == ["/tls/stale.crt"]
    assert not (tmp_path / "tls" / "stale.crt").exists()
    assert (tmp_path / "broken" / "maybe-in-snapshot.key").exists()
    assert (tmp_path / ".keyark-restore-1-abc-0").exists()
    assert (tmp_path / "tls" / "leaf.crt").exists()


def test_symlinked_directory_in_the_target_is_not_entered(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.key").write_text("outside the target")
    target = tmp_path / "target"
    target.mkdir()
    (target / "tls").symlink_to(outside, target_is_directory=True)  # a snapshot dir's name
    assert _remove(target) == []
    assert (outside / "secret.key").exists() and (target / "tls").is_symlink()
