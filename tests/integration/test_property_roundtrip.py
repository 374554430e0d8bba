"""Property: any tree -> backup -> restore -> identical content and metadata."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyark import ops
from keyark.archiver.backup import BackupOptions, backup
from keyark.catalog.snapshots import find_snapshot
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials
from keyark.restorer.run import RestoreOptions, restore

NAME = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\x00"),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)
CONTENT = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=2048),
    st.integers(min_value=600_000, max_value=1_500_000).map(os.urandom),
)
MODE = st.sampled_from([0o600, 0o644, 0o400, 0o755, 0o700, 0o640])

FileSpec = tuple[Literal["file"], bytes, int]
DirSpec = tuple[Literal["dir"], "Tree"]
LinkSpec = tuple[Literal["link"], str]
Tree = dict[str, FileSpec | DirSpec | LinkSpec]


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Tree:
    entries: Tree = {}
    for name in draw(st.lists(NAME, max_size=6, unique_by=lambda n: n.casefold())):
        kind = draw(st.sampled_from(["file", "file", "dir", "link"] if depth < 3 else ["file"]))
        if kind == "file":
            entries[name] = ("file", draw(CONTENT), draw(MODE))
        elif kind == "dir":
            entries[name] = ("dir", draw(trees(depth + 1)))
        else:
            entries[name] = ("link", draw(NAME))
    return entries


def materialise(root: Path, tree: Tree, stamp: list[int]) -> list[Path]:
    root.mkdir(exist_ok=True)
    files: list[Path] = []
    for name, spec in tree.items():
        path = root / name
        if spec[0] == "file":
            _, content, mode = spec
            path.write_bytes(content)
            os.chmod(path, mode)
            stamp[0] += 1
            os.utime(path, ns=(stamp[0] * 10**9 + 123, stamp[0] * 10**9 + 123))
            files.append(path)
        elif spec[0] == "dir":
            files += materialise(path, spec[1], stamp)
        else:
            os.symlink(spec[1], path)
    return files


def snapshot_of(root: Path) -> dict[str, tuple[object, ...]]:
    state: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            st_ = path.lstat()
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                state[rel] = ("dir", st_.st_mode)
            else:
                first = inodes.setdefault(st_.st_ino, rel)
                state[rel] = ("file", st_.st_mode, st_.st_mtime_ns, path.read_bytes(), first)
    return state


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees(), hardlinks=st.integers(min_value=0, max_value=2))
def test_backup_restore_identical(tree: Tree, hardlinks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        source = base / "src"
        files = materialise(source, tree, [1_600_000_000])
        for i in range(min(hardlinks, len(files))):
            os.link(files[i], source / f"hardlink-{i}")
        url = str(base / "repo")
        ops.init_repository(url, b"pw", pack_size_mib=1).close()
        ctx = OperationContext(cache_dir=base / "cache")
        with ops.open_repository(url, Credentials(passphrase=b"pw")) as repo:
            summary = backup(repo, BackupOptions([str(source)]), ctx)
            assert summary.complete
            snapshot = find_snapshot(repo, "latest", ctx)
            restore(repo, snapshot, RestoreOptions(str(base / "out"), verify=True), ctx)
        restored = base / "out" / source.relative_to("/")
        assert snapshot_of(restored) == snapshot_of(source)
