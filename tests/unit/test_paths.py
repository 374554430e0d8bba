"""Sources, excludes, restore filters and unsafe names."""

from __future__ import annotations

import pytest

from keyark.archiver.sources import ExcludeMatcher, build_virtual_root, normalize_sources
from keyark.errors import UsageError
from keyark.restorer.plan import PathFilter, unsafe_reason


def test_normalize_sources_drops_nested_and_duplicates() -> None:
    assert normalize_sources(["/a/b", "/a/b/c", "/a/b/", "/x"]) == ["/a/b", "/x"]
    with pytest.raises(UsageError):
        normalize_sources([])


def test_virtual_root() -> None:
    root = build_virtual_root(["/etc/ssl", "/etc/ssh", "/home/u/keys"])
    etc = root.children["etc"]
    assert not isinstance(etc, str)
    assert etc.children == {"ssl": "/etc/ssl", "ssh": "/etc/ssh"}


def test_excludes() -> None:
    matcher = ExcludeMatcher(["*.tmp", "/home/*/cache", ""])
    assert matcher.excluded("/a/b/x.tmp")
    assert matcher.excluded("/home/u/cache")
    assert not matcher.excluded("/home/u/keys")
    assert not ExcludeMatcher([])


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/etc", "x\x00y", "../x"])
def test_unsafe_names(name: str) -> None:
    assert unsafe_reason(name) is not None


def test_safe_names() -> None:
    assert unsafe_reason("..hidden") is None and unsafe_reason("ünï code") is None
    assert unsafe_reason("back\\slash") is None  # a valid POSIX name


def test_path_filter() -> None:
    f = PathFilter(["*.key"], ["/a/skip"])
    assert f.included("/a/b/server.key") and not f.included("/a/b/server.crt")
    assert f.excluded("/a/skip/x.key")
    assert f.may_contain_included("/a/b")
    only = PathFilter(["/a/b"], [])
    assert only.included("/a/b/c/d") and not only.included("/a/c")
    assert only.may_contain_included("/a") and not only.may_contain_included("/x")
