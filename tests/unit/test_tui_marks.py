"""Marks become include patterns that match exactly the marked names."""

from __future__ import annotations

from keyark.patterns import PatternSet
from keyark.tui.marks import Marks, literal_pattern


def test_pattern_characters_in_names_are_literal() -> None:
    name = "/etc/ssl/[bold]odd*name?.key"
    pattern = literal_pattern(name)
    matcher = PatternSet([pattern])
    assert matcher.matches(name)
    assert not matcher.matches("/etc/ssl/bodd-name-.key")  # positive control: no globbing
    assert not matcher.matches("/etc/ssl/[bold]oddXXnameY.key")


def test_marked_directory_covers_its_contents_once() -> None:
    marks = Marks()
    assert marks.toggle("/etc/ssl")
    assert marks.toggle("/etc/ssl/private/a.key")
    assert marks.toggle("/home/u/.ssh/id_ed25519")
    assert marks.covered("/etc/ssl/private/b.key")
    assert not marks.covered("/etc/ssl2/x")
    assert marks.includes() == ["/etc/ssl", "/home/u/.ssh/id_ed25519"]
    assert not marks.toggle("/etc/ssl")
    assert marks.includes() == ["/etc/ssl/private/a.key", "/home/u/.ssh/id_ed25519"]
