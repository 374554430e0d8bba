"""Hostile tree blobs give one FormatError naming the tree (issue 8 section 6).

Anyone holding the id key can seal a tree blob whose id verifies. Each tree below is sealed
validly into the repository and read through ``load_tree`` (and ``restore``): the result
must be keyark's FormatError naming the tree id, never a Python exception, and never an
entry that could escape the restore target ('..', 'a/b'). Positive control: the same
documents without the hostile value load fine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import pytest

from keyark.context import OperationContext
from keyark.errors import FormatError, KeyarkError
from keyark.maintenance.check import CheckOptions, check
from keyark.repo.pack import TREE
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import decode_tree
from keyark.restorer.run import RestoreOptions, restore

BLOB = b"\x11" * 32


def good_entries() -> list[dict[str, Any]]:
    """A valid directory: a file with content and an xattr, a dir and a symlink."""
    return [
        {"n": b"d", "t": "dir", "m": 0o755, "u": 0, "g": 0, "un": "", "gn": "", "mt": 1,
         "ct": 1, "i": 2, "st": BLOB},
        {"n": b"f.key", "t": "file", "m": 0o600, "u": 1000, "g": 1000, "un": "u", "gn": "g",
         "mt": 1, "ct": 1, "i": 3, "s": 5, "c": [BLOB], "x": {"user.a": b"v"}},
        {"n": b"l", "t": "symlink", "m": 0o777, "u": 0, "g": 0, "un": "", "gn": "", "mt": 1,
         "ct": 1, "i": 4, "lt": b"f.key"},
    ]  # fmt: skip


def entry(name: bytes) -> dict[str, Any]:
    return next(e for e in good_entries() if e["n"] == name)


def setter(name: bytes, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        next(e for e in document["nodes"] if e["n"] == name)[key] = value

    return change


HOSTILE: dict[str, Callable[[dict[str, Any]], None]] = {
    "name ..": setter(b"f.key", "n", b".."),
    "name .": setter(b"f.key", "n", b"."),
    "name with slash": setter(b"f.key", "n", b"../../etc/passwd"),
    "name with NUL": setter(b"f.key", "n", b"a\0b"),
    "empty name": setter(b"f.key", "n", b""),
    "name an int": setter(b"f.key", "n", 7),
    "unknown type": setter(b"f.key", "t", "socket"),
    "type a list": setter(b"f.key", "t", ["file"]),
    "mode negative": setter(b"f.key", "m", -1),
    "mode setuid+file bits": setter(b"f.key", "m", 0o100755),
    "mode a string": setter(b"f.key", "m", "0755"),
    "uid huge": setter(b"f.key", "u", 2**40),
    "gid a float": setter(b"f.key", "g", 1.5),
    "user bytes": setter(b"f.key", "un", b"root"),
    "mtime beyond int64": setter(b"f.key", "mt", 2**64 - 1),
    "size negative": setter(b"f.key", "s", -1),
    "content not a list": setter(b"f.key", "c", BLOB),
    "content id short": setter(b"f.key", "c", [b"\x11" * 31]),
    "content id a string": setter(b"f.key", "c", [BLOB.hex()]),
    "links zero": setter(b"f.key", "l", 0),
    "subtree a string": setter(b"d", "st", BLOB.hex()),
    "subtree short": setter(b"d", "st", b"\x11"),
    "device rdev negative": lambda document: document["nodes"].append(
        {"n": b"dev", "t": "chardev", "m": 0o600, "r": -1}
    ),
    "link target NUL": setter(b"l", "lt", b"a\0b"),
    "link target an int": setter(b"l", "lt", 5),
    "xattrs a list": setter(b"f.key", "x", [b"v"]),
    "xattr value a str": setter(b"f.key", "x", {"user.a": "v"}),
    "xattr name bytes": setter(b"f.key", "x", {b"user.a": b"v"}),
    "too many xattrs": setter(b"f.key", "x", {f"user.{i}": b"" for i in range(2000)}),
    "xattr value 1 MiB": setter(b"f.key", "x", {"user.a": b"v" * (1 << 20)}),
    "entry a list": lambda document: document["nodes"].append([1, 2]),
    "duplicate name": lambda document: document["nodes"].append(entry(b"f.key")),
    "nodes a map": lambda document: document.update(nodes={"a": 1}),
    "version missing": lambda document: document.pop("v"),
    "version 99": lambda document: document.update(v=99),
}


def tree_bytes(change: Callable[[dict[str, Any]], None] | None = None) -> bytes:
    document: dict[str, Any] = {"v": 1, "nodes": good_entries()}
    if change is not None:
        change(document)
    return bytes(msgpack.packb(document, use_bin_type=True))


def seal_tree(repo: Repository, data: bytes) -> bytes:
    tree_id, _ = repo.blobs.save_blob(TREE, data)
    repo.blobs.flush()
    return tree_id


def test_positive_control_the_valid_tree_loads(repo: Repository) -> None:
    repo.blobs.load_index()
    nodes = repo.blobs.load_tree(seal_tree(repo, tree_bytes()))
    assert [(n.name, n.type) for n in nodes] == [("d", "dir"), ("f.key", "file"), ("l", "symlink")]
    assert nodes[1].xattrs == {"user.a": b"v"} and nodes[1].content == [BLOB]


@pytest.mark.parametrize("change", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_tree_is_a_format_error_naming_the_tree(
    repo: Repository, change: Callable[[dict[str, Any]], None]
) -> None:
    repo.blobs.load_index()
    tree_id = seal_tree(repo, tree_bytes(change))
    with pytest.raises(FormatError) as error:
        repo.blobs.load_tree(tree_id)
    message = str(error.value)
    assert tree_id.hex()[:16] in message and "\n" not in message
    assert "malformed" in message or "unsupported" in message


def test_restore_of_a_snapshot_with_a_hostile_tree_fails_cleanly(
    repo: Repository, tmp_path: Path, context: OperationContext
) -> None:
    """'..' as an entry name: restore stops with keyark's error and writes nothing outside."""
    repo.blobs.load_index()
    inner = seal_tree(repo, tree_bytes(HOSTILE["name with slash"]))
    outer = {"v": 1, "nodes": [dict(entry(b"d"), st=inner)]}
    root = seal_tree(repo, bytes(msgpack.packb(outer, use_bin_type=True)))
    snapshot = Snapshot(time=datetime.now(UTC), host="h", username="u", paths=["/src"], tree=root)
    repo.snapshots.save(snapshot)
    target = tmp_path / "target"
    with pytest.raises(KeyarkError):
        restore(repo, snapshot, RestoreOptions(str(target)), context)
    assert not (tmp_path / "etc").exists()
    assert decode_tree(tree_bytes())  # the same parser accepts the valid document


def test_check_lists_the_hostile_tree_and_goes_on(repo: Repository) -> None:
    """`check` names the malformed tree and still checks the good part of the snapshot."""
    repo.blobs.load_index()
    bad = seal_tree(repo, tree_bytes(HOSTILE["mode a string"]))
    good = seal_tree(repo, tree_bytes())
    outer = {"v": 1, "nodes": [dict(entry(b"d"), n=b"a", st=bad), dict(entry(b"d"), st=good)]}
    root = seal_tree(repo, bytes(msgpack.packb(outer, use_bin_type=True)))
    snapshot = Snapshot(time=datetime.now(UTC), host="h", username="u", paths=["/s"], tree=root)
    repo.snapshots.save(snapshot)
    summary = check(repo, CheckOptions())
    assert not summary.ok
    text = " ".join(f"{p.object} {p.message}" for p in summary.problems)
    assert bad.hex()[:16] in text and "malformed" in text
