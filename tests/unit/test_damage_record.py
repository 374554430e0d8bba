"""The damaged-copy record (issue 11, bug 10) and the copy redaction of ``copy``'s errors."""

from __future__ import annotations

from pathlib import Path

from keyark.replication import redacted_location
from keyark.repo.damage import load_damage, save_damage
from keyark.repo.index import MasterIndex
from keyark.repo.pack import PackEntry

BLOB = b"\x01" * 32
BAD_PACK = b"\x0a" * 32
GOOD_PACK = b"\x0b" * 32


def _entry(offset: int = 0) -> PackEntry:
    return PackEntry(0, BLOB, offset, 40, 10, 0)


def test_a_damaged_copy_no_longer_satisfies_dedup_and_is_read_last() -> None:
    index = MasterIndex()
    index.add_pack(BAD_PACK, 100, [_entry()], b"k" * 8)
    assert index.has_trusted(BLOB)
    index.mark_damaged({(BLOB, BAD_PACK)})
    assert not index.has_trusted(BLOB)
    index.add_pack(GOOD_PACK, 100, [_entry(8)], b"k" * 8)
    assert index.has_trusted(BLOB)
    assert [c.pack_id for c in index.candidates(BLOB)] == [GOOD_PACK, BAD_PACK]
    best = index.get(BLOB)
    assert best is not None and best.pack_id == GOOD_PACK


def test_the_record_keeps_only_packs_still_indexed_and_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "damage" / "repo.json"
    assert save_damage(path, [(BLOB, BAD_PACK)], indexed_packs={BAD_PACK}, read_packs=set())
    assert load_damage(path) == {(BLOB, BAD_PACK)}
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    # A structure-only check keeps it; a read that finds the pack good again drops it.
    save_damage(path, [], indexed_packs={BAD_PACK}, read_packs=set())
    assert load_damage(path) == {(BLOB, BAD_PACK)}
    save_damage(path, [], indexed_packs={BAD_PACK}, read_packs={BAD_PACK})
    assert not path.exists() and load_damage(path) == set()
    # Once repaired (the pack unindexed), the entry goes.
    save_damage(path, [(BLOB, BAD_PACK)], indexed_packs={BAD_PACK}, read_packs=set())
    save_damage(path, [], indexed_packs=set(), read_packs=set())
    assert load_damage(path) == set()


def test_a_garbled_record_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "repo.json"
    path.write_text('{"copies": [["zz", 1]]}')
    assert load_damage(path) == set()
    assert load_damage(None) == set()


def test_copy_errors_show_locations_without_credentials() -> None:
    assert redacted_location("/srv/backup") == "/srv/backup"
    assert redacted_location("sftp://ops:hunter2@host:22/srv") == "sftp://ops@host:22/srv"
    assert redacted_location("s3://bucket/prefix?token=abc") == "s3://bucket/prefix"
