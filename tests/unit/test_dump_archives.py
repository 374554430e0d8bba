"""The archive writers of ``dump``: privileges of agent snapshots, xattrs, times, raw names."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from typing import BinaryIO

import pytest

from keyark.repo.tree import FILE, Node
from keyark.restorer.archives import TarArchive, ZipArchive


def _content(node: Node) -> BinaryIO:
    return io.BytesIO(b"#!/bin/sh\n")


def _tool(name: str = "srv/tool", mtime_ns: int = 1_700_000_000_000_000_001) -> Node:
    xattrs = {"trusted.planted": b"1", "user.note": b"kept \xff"}
    return Node(name, FILE, mode=0o4755, mtime_ns=mtime_ns, size=10, xattrs=xattrs)


@pytest.mark.parametrize("drop", [True, False])
def test_tar_drops_setuid_and_privileged_xattrs_of_agent_snapshots(drop: bool) -> None:
    out = io.BytesIO()
    archive = TarArchive(out, _content, drop_privileges=drop)
    archive.add("srv/tool", _tool(), 10)
    archive.close()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), errors="surrogateescape") as tar:
        member = tar.getmember("srv/tool")
        assert bool(member.mode & stat.S_ISUID) is not drop
        assert ("SCHILY.xattr.trusted.planted" in member.pax_headers) is not drop
        assert member.pax_headers["SCHILY.xattr.user.note"].encode("utf-8", "surrogateescape") == (
            b"kept \xff"
        )
        assert member.pax_headers["mtime"] == "1700000000.000000001"


def test_tar_keeps_times_before_1970() -> None:
    out = io.BytesIO()
    archive = TarArchive(out, _content, drop_privileges=False)
    archive.add("old", _tool("old", mtime_ns=-1_500_000_000), 10)
    archive.close()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.getmember("old").pax_headers["mtime"] == "-1.5"
        assert tar.getmember("old").mtime == -1.5


@pytest.mark.parametrize("drop", [True, False])
def test_zip_keeps_unix_modes_and_raw_names(drop: bool) -> None:
    out = io.BytesIO()
    archive = ZipArchive(out, _content, drop_privileges=drop)
    raw = b"srv/\xfftool".decode("utf-8", "surrogateescape")
    archive.add(raw, _tool(raw), 10)
    archive.close()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archived:
        (info,) = archived.infolist()
        assert not info.flag_bits & 0x800 and info.filename.encode("cp437") == b"srv/\xfftool"
        expected = 0o755 if drop else 0o4755
        assert info.external_attr >> 16 == stat.S_IFREG | expected
        assert archived.read(info) == b"#!/bin/sh\n"
