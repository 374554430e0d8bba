"""The tree filter of ``rewrite`` and the option rules of ``rewrite`` and ``tag``."""

from __future__ import annotations

import pytest

from keyark.cancel import NEVER
from keyark.errors import UsageError
from keyark.maintenance.rewrite_snapshots import RewriteOptions, TreeFilter
from keyark.maintenance.snapshot_tags import TagOptions, split_tags
from keyark.patterns import PatternSet
from keyark.repo.repository import Repository
from keyark.repo.snapshot import SnapshotFilter
from keyark.repo.tree import DIR, FILE, Node


def _tree(repo: Repository) -> bytes:
    """/srv/{app/{.env, main.py}, tls/{a.key, a.crt}}: the root tree's id."""
    secret = b"\x01" * 32  # a content id (the filter never reads file data)
    app = repo.blobs.save_tree(
        [Node(".env", FILE, content=[secret], size=7), Node("main.py", FILE)]
    )[0]
    tls = repo.blobs.save_tree([Node("a.crt", FILE), Node("a.key", FILE)])[0]
    srv = repo.blobs.save_tree([Node("app", DIR, subtree=app), Node("tls", DIR, subtree=tls)])[0]
    root = repo.blobs.save_tree([Node("srv", DIR, subtree=srv)])[0]
    repo.blobs.flush()
    return root


def _children(repo: Repository, tree_id: bytes, *names: str) -> list[Node]:
    for name in names:
        node = next(n for n in repo.blobs.load_tree(tree_id) if n.name == name)
        assert node.subtree is not None
        tree_id = node.subtree
    return repo.blobs.load_tree(tree_id)


def test_filter_removes_matches_and_reuses_untouched_subtrees(repo: Repository) -> None:
    root = _tree(repo)
    tls_before = next(n for n in _children(repo, root, "srv") if n.name == "tls").subtree
    new_root, removed = TreeFilter(repo, PatternSet([".env"]), False, NEVER).rewrite(root)
    repo.blobs.flush()
    assert removed == ["/srv/app/.env"] and new_root != root
    assert [n.name for n in _children(repo, new_root, "srv", "app")] == ["main.py"]
    tls_after = next(n for n in _children(repo, new_root, "srv") if n.name == "tls").subtree
    assert tls_after == tls_before  # reused as it was
    # A pattern matching nothing keeps the tree id; a dry run gives the same ids unsaved.
    assert TreeFilter(repo, PatternSet(["/nowhere"]), False, NEVER).rewrite(root) == (root, [])
    dry = TreeFilter(repo, PatternSet([".env"]), True, NEVER).rewrite(root)
    assert dry == (new_root, removed)


def test_filter_excludes_directories_and_case_insensitive(repo: Repository) -> None:
    root = _tree(repo)
    new_root, removed = TreeFilter(
        repo, PatternSet(["/srv/tls"], insensitive=["*.PY"]), False, NEVER
    ).rewrite(root)
    repo.blobs.flush()
    assert sorted(removed) == ["/srv/app/main.py", "/srv/tls"]
    assert [n.name for n in _children(repo, new_root, "srv")] == ["app"]
    assert [n.name for n in _children(repo, new_root, "srv", "app")] == [".env"]


def test_anchored_patterns_do_not_read_unrelated_trees(repo: Repository) -> None:
    root = _tree(repo)
    tls = next(n for n in _children(repo, root, "srv") if n.name == "tls").subtree
    loaded: list[bytes] = []
    load = repo.blobs.load_tree

    def counting(tree_id: bytes) -> list[Node]:
        loaded.append(tree_id)
        return load(tree_id)

    repo.blobs.load_tree = counting  # type: ignore[method-assign]
    TreeFilter(repo, PatternSet(["/srv/app/.env"]), False, NEVER).rewrite(root)
    assert tls not in loaded and len(loaded) == 3  # root, srv, app


def test_option_rules() -> None:
    with pytest.raises(UsageError, match="no snapshots selected"):
        RewriteOptions(exclude=[".env"]).validate()
    with pytest.raises(UsageError, match="no exclude patterns"):
        RewriteOptions(snapshots=["latest"]).validate()
    with pytest.raises(UsageError, match="not both"):
        RewriteOptions(snapshots=["latest"], all_snapshots=True, exclude=["x"]).validate()
    with pytest.raises(UsageError, match="pattern file"):
        RewriteOptions(snapshots=["latest"], exclude_files=["/nonexistent/p"]).validate()
    assert RewriteOptions(selection=SnapshotFilter(hosts=["h"]), exclude=["x"]).validate()
    with pytest.raises(UsageError, match="nothing to do"):
        TagOptions(snapshots=["latest"], add=[","]).validate()
    with pytest.raises(UsageError, match="not both"):
        TagOptions(snapshots=["latest"], set_tags=["a"], add=["b"]).validate()
    with pytest.raises(UsageError, match="no snapshots selected"):
        TagOptions(add=["a"]).validate()
    TagOptions(all_snapshots=True, set_tags=[""]).validate()  # clears every tag
    assert split_tags(["a,b", " c ,a", ""]) == ["a", "b", "c"]
    assert TagOptions(add=["x,a"], remove=["b"]).apply(["a", "b"]) == ["a", "x"]
    assert TagOptions(set_tags=["s,t"]).apply(["a"]) == ["s", "t"]
    assert TagOptions(set_tags=[""]).apply(["a"]) == []
