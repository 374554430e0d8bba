"""restic's filter rules in :mod:`keyark.patterns`."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyark.errors import UsageError
from keyark.patterns import PatternSet, read_pattern_files


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # the examples
        ("/x/tls/*.crt", "/x/tls/a.crt", True),
        ("/x/tls/*.crt", "/x/tls/sub/a.crt", False),
        ("data/bulk", "/src/data/bulk", True),
        ("data/bulk", "/src/data/bulk/part/file", True),
        ("data/bulk", "/src/data/bulky", False),
        ("tls/leaf", "/home/u/keys/tls/leaf/cert.pem", True),
        # `*` stays within one component
        ("*.crt", "/a/b/c.crt", True),
        ("/a/*", "/a/b/c", True),
        ("/*.crt", "/a/b.crt", False),
        ("a*c", "/ab/c", False),
        # `**` crosses components, zero included
        ("/x/**/*.crt", "/x/tls/sub/a.crt", True),
        ("/x/**/*.crt", "/x/a.crt", True),
        ("/x/**/*.crt", "/y/a.crt", False),
        ("**/secret", "/a/b/secret", True),
        ("foo/**", "/a/foo/b", True),
        # a leading `/` anchors; a relative pattern matches at any depth
        ("/etc", "/etc/passwd", True),
        ("/etc", "/srv/etc/passwd", False),
        ("etc", "/srv/etc/passwd", True),
        ("etc/passwd", "/srv/etc/passwd", True),
        # whole components only; a trailing `/` is ignored
        ("tls", "/x/tlsx/a", False),
        ("tls/", "/x/tls/a", True),
        ("./tls", "/x/tls/a", True),
        # Go's filepath.Match syntax inside a component
        ("key?.pem", "/k/key1.pem", True),
        ("key[0-9].pem", "/k/key7.pem", True),
        ("key[^0-9].pem", "/k/key7.pem", False),
        ("key[^0-9].pem", "/k/keyx.pem", True),
        ("\\*.pem", "/k/*.pem", True),
        ("\\*.pem", "/k/a.pem", False),
        # names may contain anything but `/`
        ("*", "/k/line\nbreak", True),
        ("/k/*", "/k/bad\udcff", True),
        # case matters unless insensitive
        ("*.CRT", "/a/b.crt", False),
    ],
)
def test_match(pattern: str, path: str, expected: bool) -> None:
    assert PatternSet([pattern]).matches(path) is expected


def test_insensitive() -> None:
    patterns = PatternSet(insensitive=["*.CRT", "/Home/TLS"])
    assert patterns.matches("/a/B.crt")
    assert patterns.matches("/home/tls/x")
    assert not patterns.matches("/home/ssh/x")
    mixed = PatternSet(["/exact"], insensitive=["loose"])
    assert mixed.matches("/exact/a")
    assert not mixed.matches("/EXACT/a")
    assert mixed.matches("/x/LOOSE")


def test_negation_reincludes() -> None:
    patterns = PatternSet(["/home/*", "!/home/keep"])
    assert patterns.matches("/home/other/a")
    assert not patterns.matches("/home/keep")
    assert not patterns.matches("/home/keep/a")
    # a later positive pattern matches again
    assert PatternSet(["*.pem", "!/k/a.pem", "/k"]).matches("/k/a.pem")


def test_may_match_below() -> None:
    anchored = PatternSet(["/x/tls/*.crt"])
    assert anchored.may_match_below("/")
    assert anchored.may_match_below("/x")
    assert anchored.may_match_below("/x/tls")
    assert not anchored.may_match_below("/y")
    assert not anchored.may_match_below("/x/ssh")
    # relative patterns can match at any depth
    assert PatternSet(["tls/leaf"]).may_match_below("/anything")
    # `**` stops the prefix comparison
    assert PatternSet(["/x/**/a"]).may_match_below("/x/b/c/d")
    assert not PatternSet(["/x/**/a"]).may_match_below("/y/b")
    assert PatternSet(insensitive=["/X/TLS"]).may_match_below("/x")
    assert not PatternSet().may_match_below("/x")


def test_empty_and_bool() -> None:
    assert not PatternSet()
    assert not PatternSet([""])
    assert PatternSet(["a"])
    assert PatternSet(insensitive=["a"])
    assert not PatternSet().matches("/a")


@pytest.mark.parametrize("bad", ["key[", "[]", "a\\", "[z-a]"])
def test_bad_pattern_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid pattern"):
        PatternSet([bad])


def test_read_pattern_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYS_DIR", "/srv/keys")
    first = tmp_path / "one"
    first.write_text("# comment\n\n  *.tmp  \n$KEYS_DIR/cache\n${KEYS_DIR}/x\ncost$$\n")
    second = tmp_path / "two"
    second.write_text("/abs\n")
    assert read_pattern_files([str(first), str(second)]) == [
        "*.tmp",
        "/srv/keys/cache",
        "/srv/keys/x",
        "cost$",
        "/abs",
    ]
    with pytest.raises(UsageError, match="missing"):
        read_pattern_files([str(tmp_path / "missing")])
