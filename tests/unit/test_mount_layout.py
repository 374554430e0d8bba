"""The mount's directories above the snapshot trees: names, listings, ``latest`` links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from keyark.mount.layout import Folder, Link, SnapshotRoot, build_layout, snapshot_ns
from keyark.mount.names import LATEST, component, time_name, unique_time_names
from keyark.repo.snapshot import Snapshot

T0 = datetime(2026, 12, 2, 5, 33, 22, 250000, tzinfo=UTC)


def snap(ident: str, moment: datetime, host: str = "h1", tags: tuple[str, ...] = ()) -> Snapshot:
    return Snapshot(
        time=moment,
        host=host,
        username="u",
        paths=["/p"],
        tree=b"\0" * 32,
        tags=list(tags),
        id=ident * 8,
    )


def test_time_names_are_restic_style_in_utc() -> None:
    assert time_name(T0) == "2026-12-02T05:33:22+00:00"
    east = T0.astimezone(timezone(timedelta(hours=2)))
    assert time_name(east) == "2026-12-02T05:33:22+00:00"  # the same moment, the same name
    assert time_name(T0.replace(tzinfo=None)) == "2026-12-02T05:33:22+00:00"


def test_snapshots_in_the_same_second_get_unique_names_in_time_order() -> None:
    same = [snap("c", T0), snap("a", T0 + timedelta(microseconds=5)), snap("b", T0)]
    names = unique_time_names(same)
    # Ordered by (time, id): b, c at T0, then a five microseconds later.
    assert names["b" * 8] == "2026-12-02T05:33:22+00:00"
    assert names["c" * 8] == "2026-12-02T05:33:22+00:00-1"
    assert names["a" * 8] == "2026-12-02T05:33:22+00:00-2"
    assert len(set(names.values())) == 3


def test_components_never_escape_their_directory() -> None:
    assert component("web/01") == "web_01"
    assert component("") == component(".") == component("..") == "_"
    assert component("a\0b") == "a_b"
    assert component("café") == "café"


def test_layout_lists_snapshots_hosts_tags_and_ids_with_latest_links() -> None:
    first = snap("a", T0, "web", ("daily",))
    second = snap("b", T0 + timedelta(hours=1), "db", ("daily", "pg"))
    third = snap("c", T0 + timedelta(hours=2), "web")
    root = build_layout([third, first, second])
    assert sorted(root.entries) == ["hosts", "ids", "snapshots", "tags"]
    listing = root.entries["snapshots"]
    assert isinstance(listing, Folder)
    names = [time_name(s.time) for s in (first, second, third)]
    assert list(listing.entries) == [*names, LATEST]
    latest = listing.entries[LATEST]
    assert isinstance(latest, Link) and latest.target == names[2]
    assert listing.mtime_ns == snapshot_ns(third)
    hosts = root.entries["hosts"]
    assert isinstance(hosts, Folder) and sorted(hosts.entries) == ["db", "web"]
    web = hosts.entries["web"]
    assert isinstance(web, Folder) and list(web.entries) == [names[0], names[2], LATEST]
    assert web.entries[LATEST] == Link(names[2], snapshot_ns(third))
    tags = root.entries["tags"]
    assert isinstance(tags, Folder) and sorted(tags.entries) == ["daily", "pg"]
    daily = tags.entries["daily"]
    assert isinstance(daily, Folder)
    latest_daily = daily.entries[LATEST]
    assert isinstance(latest_daily, Link) and latest_daily.target == names[1]
    in_daily = daily.entries[names[0]]
    assert isinstance(in_daily, SnapshotRoot) and in_daily.snapshot is first
    ids = root.entries["ids"]
    assert isinstance(ids, Folder) and sorted(ids.entries) == ["aaaaaaaa", "bbbbbbbb", "cccccccc"]


def test_an_empty_repository_has_empty_listings_without_latest() -> None:
    root = build_layout([])
    listing = root.entries["snapshots"]
    assert isinstance(listing, Folder) and listing.entries == {}
    assert root.mtime_ns == 0


def test_snapshot_times_in_ns_keep_microseconds() -> None:
    assert (
        snapshot_ns(snap("a", T0))
        == int(T0.replace(microsecond=0).timestamp()) * 10**9 + 250 * 10**6
    )
