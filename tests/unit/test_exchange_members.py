"""Reading archive members safely: hostile tar and zip members are refused, safe ones read.

Each hostile archive also holds a harmless member first, so a reader that skipped the
check would return it and the test would fail (the refusal is what is asserted).
"""

from __future__ import annotations

import io
import re
import stat
import tarfile
import zipfile

import pytest
import zstandard
from tests.hostile_archives import REFUSALS, hostile_tar

from keyark.errors import UnsafeArchiveError
from keyark.exchange.members import DIR, FILE, HARDLINK, SYMLINK, Member, read_members
from keyark.exchange.tree_builder import TreeBuilder
from keyark.repo.tree import Node, decode_tree


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_hostile_tar_members_are_refused(case: str, mode: str) -> None:
    change, message = REFUSALS[case]
    data = hostile_tar(change, mode)
    with pytest.raises(UnsafeArchiveError, match=re.escape(f"evil.tar: {message}")):
        for member in read_members(io.BytesIO(data), "evil.tar"):
            if member.content is not None:
                member.content.read()


def _zip(name: str, mode: int, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("ok.txt", b"ok")
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = mode << 16
        archive.writestr(info, content)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "mode", "content", "message"),
    [
        ("/etc/evil", stat.S_IFREG | 0o644, b"x", "absolute"),
        ("a/../../evil", stat.S_IFREG | 0o644, b"x", r"\.\."),
        ("link", stat.S_IFLNK | 0o777, b"../../etc/passwd", "links out"),
        ("link", stat.S_IFLNK | 0o777, b"/etc/passwd", "absolute path"),
        ("dev", stat.S_IFCHR | 0o600, b"", "device file"),
    ],
)
def test_hostile_zip_members_are_refused(
    name: str, mode: int, content: bytes, message: str
) -> None:
    with pytest.raises(UnsafeArchiveError, match=message):
        list(read_members(io.BytesIO(_zip(name, mode, content)), "evil.zip"))


def test_safe_members_are_read_with_their_kinds_and_content() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind in (("./keys", tarfile.DIRTYPE), ("keys/a.key", tarfile.REGTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, 0o4755 if kind == tarfile.REGTYPE else 0o700
            info.size = 5 if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(b"12345") if info.size else None)
        link = tarfile.TarInfo("keys/current")
        link.type, link.linkname = tarfile.SYMTYPE, "a.key"
        tar.addfile(link)
        hard = tarfile.TarInfo("keys/b.key")
        hard.type, hard.linkname = tarfile.LNKTYPE, "keys/a.key"
        tar.addfile(hard)
    compressed = zstandard.ZstdCompressor().compress(out.getvalue())
    for data in (out.getvalue(), compressed):
        seen = []
        for member in read_members(io.BytesIO(data), "ok.tar"):
            content = member.content.read() if member.content is not None else None
            seen.append((member.name, member.kind, member.mode, member.target, content))
        assert seen == [
            ("keys", DIR, 0o700, "", None),
            ("keys/a.key", FILE, 0o755, "", b"12345"),  # the data filter drops setuid
            ("keys/current", SYMLINK, 0o777, "a.key", None),
            ("keys/b.key", HARDLINK, 0o644, "keys/a.key", None),
        ]


def test_zip_names_that_are_not_utf8_read_back_as_the_snapshot_wrote_them() -> None:
    from keyark.repo.tree import FILE as NODE_FILE
    from keyark.repo.tree import Node
    from keyark.restorer.archives import ZipArchive

    raw = b"keys/legacy-\xff.key".decode("utf-8", "surrogateescape")
    out = io.BytesIO()
    archive = ZipArchive(out, lambda node: io.BytesIO(b"k"), drop_privileges=False)
    archive.add(raw, Node("legacy-\xff.key", NODE_FILE, mode=0o600, size=1), 1)
    archive.add("keys/plain.key", Node("plain.key", NODE_FILE, mode=0o600, size=1), 1)
    archive.close()
    names = [member.name for member in read_members(io.BytesIO(out.getvalue()), "x.zip")]
    assert names == [raw, "keys/plain.key"]


#: A content blob id (32 bytes).
BLOB = bytes(range(32))


def _member(name: str, kind: str, target: str = "") -> Member:
    return Member(name, kind, 0o600, 0, target=target)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("keys/link", SYMLINK, "a"), ("keys/link/x", FILE, "")], "lies below 'link'"),
        ([("keys/a", FILE, ""), ("keys/a/x", FILE, "")], "lies below 'a', which is a file"),
        ([("keys/b", HARDLINK, "keys/a")], "hard link to 'keys/a', which is not a file before"),
        ([("keys/a", FILE, ""), ("keys", FILE, "")], "replaces a directory"),
    ],
)
def test_the_tree_of_an_archive_refuses_what_extraction_would_not_make(
    members: list[tuple[str, str, str]], message: str
) -> None:
    builder = TreeBuilder("x.tar", 0)
    with pytest.raises(UnsafeArchiveError, match=message):
        for name, kind, target in members:
            builder.add(_member(name, kind, target), [], 0)


def test_the_tree_makes_missing_directories_and_keeps_hard_link_content() -> None:
    builder = TreeBuilder("x.tar", 7)
    builder.add(_member("keys/a", FILE), [BLOB], 4)
    builder.add(_member("keys/b", HARDLINK, "keys/a"), [], 0)
    builder.add(_member("etc/ssl/c", FILE), [], 0)
    trees: list[list[Node]] = []

    def save(data: bytes) -> bytes:
        trees.append(decode_tree(data))
        return bytes([len(trees)]) * 32

    builder.store(save)
    assert builder.top_level == ["/etc", "/keys"]
    keys = next(t for t in trees if [n.name for n in t] == ["a", "b"])
    assert [n.content for n in keys] == [[BLOB], [BLOB]]
    root = trees[-1]
    assert [(n.name, n.mode, n.mtime_ns) for n in root] == [("etc", 0o700, 7), ("keys", 0o700, 7)]
