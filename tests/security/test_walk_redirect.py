"""The backup walk cannot be redirected (issue 8 section 8).

The review's attack: while root backs up a user's directory, the user swaps one of
their subdirectories for a symlink to a directory only root may read. A path-based
walk listed ``victim/`` as a directory, then opened ``victim/<name>`` by path and
read root-only content into the backup (11 of 60 runs). Here the swap is made
deterministic: the archiver's "open this listed directory" step is wrapped so the
swap happens after ``victim`` was listed and stat'ed and before it is opened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keyark.archiver import walk
from keyark.archiver.backup import BackupOptions, backup
from keyark.context import OperationContext
from keyark.repo.repository import Repository
from keyark.repo.tree import DIR, FILE

SECRET = b"ROOT-ONLY: -----BEGIN PRIVATE KEY----- s3cr3t-9f2c"


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "home" / "user"
    (source / "victim").mkdir(parents=True)
    (source / "victim" / "notes.txt").write_text("harmless notes\n")
    (source / "a.txt").write_text("user file a\n")
    (source / "z.txt").write_text("user file z\n")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "notes.txt").write_bytes(SECRET)  # same name: a listing swap would match
    (secret / "root.key").write_bytes(SECRET)
    os.chmod(secret, 0o700)
    return source, secret


def _swap_for_symlink(victim: Path, target: Path) -> None:
    victim.rename(victim.with_name(victim.name + ".moved"))
    os.symlink(target, victim)


def _snapshot_files(repo: Repository, snapshot_id: str) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every file in a snapshot."""
    repo.blobs.load_index(reload=True)
    stack = [("", repo.snapshots.load(snapshot_id).tree)]
    while stack:
        prefix, tree_id = stack.pop()
        for node in repo.blobs.load_tree(tree_id):
            path = f"{prefix}/{node.name}"
            if node.type == DIR and node.subtree is not None:
                stack.append((path, node.subtree))
            elif node.type == FILE:
                yield path, b"".join(repo.blobs.load_blob(blob) for blob in node.content)


def _hook_directory(
    monkeypatch: pytest.MonkeyPatch, name: str, action: Callable[[], None]
) -> list[str]:
    """Run ``action`` when the archiver is about to open listed directory ``name``."""
    fired: list[str] = []
    real = walk.open_directory

    def hooked(dir_fd: int, entry: str, listed: os.stat_result, path: str) -> int:
        if entry == name and not fired:
            fired.append(path)
            action()
        return real(dir_fd, entry, listed, path)

    monkeypatch.setattr(walk, "open_directory", hooked)
    return fired


def _hook_files(
    monkeypatch: pytest.MonkeyPatch, actions: dict[str, Callable[[], None]]
) -> list[str]:
    """Run ``actions[name]`` when the archiver is about to open listed file ``name``."""
    fired: list[str] = []
    real = walk.open_file

    def hooked(dir_fd: int, entry: str, listed: os.stat_result, path: str) -> tuple[int, int]:
        action = actions.pop(entry, None)
        if action is not None:
            fired.append(path)
            action()
        return real(dir_fd, entry, listed, path)

    monkeypatch.setattr(walk, "open_file", hooked)
    return fired


def _naive_walk(root: Path, before_open: Callable[[str], None]) -> list[bytes]:
    """What a path-based walk reads (the positive control): list, stat, then open by path."""
    contents: list[bytes] = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        st = os.lstat(path)
        before_open(name)
        if stat.S_ISDIR(st.st_mode):  # listed as a directory: walk it by path
            contents.extend(_naive_walk(Path(path), lambda _n: None))
        else:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # guards the last component only
            with os.fdopen(fd, "rb") as handle:
                contents.append(handle.read())
    return contents


def test_naive_path_walk_reads_the_secret(tmp_path: Path) -> None:
    """Positive control: the same swap at the same moment fools a path-based walk."""
    source, secret = _layout(tmp_path)

    def before_open(name: str) -> None:
        if name == "victim":
            _swap_for_symlink(source / "victim", secret)

    read = _naive_walk(source, before_open)
    assert (source / "victim").is_symlink()
    assert SECRET in read


def test_directory_swapped_for_symlink_is_not_followed(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, secret = _layout(tmp_path)
    fired = _hook_directory(
        monkeypatch, "victim", lambda: _swap_for_symlink(source / "victim", secret)
    )
    summary = backup(repo, BackupOptions([str(source)]), context)

    assert fired == [str(source / "victim")]  # the swap happened between listing and opening
    assert (source / "victim").is_symlink()
    assert any("victim" in w and "changed during backup" in w for w in summary.warnings)
    files = dict(_snapshot_files(repo, summary.snapshot_id or ""))
    assert not any(SECRET in content for content in files.values())
    assert not any("root.key" in path for path in files)
    # the rest of the user's directory is still backed up
    assert files[f"{source}/a.txt"] == b"user file a\n"
    assert files[f"{source}/z.txt"] == b"user file z\n"


def test_directory_swapped_for_another_directory_is_skipped(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real directory renamed into place passes O_NOFOLLOW; the inode check catches it."""
    source, _secret = _layout(tmp_path)
    decoy = source / "decoy"
    decoy.mkdir()
    (decoy / "planted.txt").write_text("planted after listing\n")

    def swap() -> None:
        (source / "victim").rename(source / "victim.moved")
        decoy.rename(source / "victim")

    fired = _hook_directory(monkeypatch, "victim", swap)
    # list "decoy" too late: exclude it so only the swapped-in copy could be read
    summary = backup(repo, BackupOptions(paths=[str(source)], excludes=["decoy"]), context)
    assert fired and (source / "victim" / "planted.txt").exists()
    assert any("victim" in w and "changed during backup" in w for w in summary.warnings)
    files = dict(_snapshot_files(repo, summary.snapshot_id or ""))
    assert not any(b"planted" in content for content in files.values())


def test_file_swapped_after_listing_is_skipped(
    repo: Repository, context: OperationContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file replaced (by rename or by a symlink) after it was stat'ed is not read."""
    source, secret = _layout(tmp_path)
    other = tmp_path / "other.txt"
    other.write_bytes(b"replacement content\n")

    def replace_a() -> None:
        os.replace(other, source / "a.txt")

    def symlink_z() -> None:
        (source / "z.txt").unlink()
        os.symlink(secret / "root.key", source / "z.txt")

    fired = _hook_files(monkeypatch, {"a.txt": replace_a, "z.txt": symlink_z})
    summary = backup(repo, BackupOptions([str(source)]), context)
    assert sorted(fired) == [str(source / "a.txt"), str(source / "z.txt")]
    assert (source / "z.txt").is_symlink()
    changed = [w for w in summary.warnings if "changed during backup" in w]
    assert any("a.txt" in w for w in changed) and any("z.txt" in w for w in changed)
    files = dict(_snapshot_files(repo, summary.snapshot_id or ""))
    assert f"{source}/a.txt" not in files and f"{source}/z.txt" not in files
    assert not any(SECRET in c or b"replacement" in c for c in files.values())
    assert files[f"{source}/victim/notes.txt"] == b"harmless notes\n"


def test_unhooked_backup_keeps_everything(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    """Control: without a swap nothing is skipped, so the checks above can fail."""
    source, _secret = _layout(tmp_path)
    summary = backup(repo, BackupOptions([str(source)]), context)
    assert not summary.warnings and not summary.errors
    files = dict(_snapshot_files(repo, summary.snapshot_id or ""))
    assert set(files) == {f"{source}/a.txt", f"{source}/z.txt", f"{source}/victim/notes.txt"}
