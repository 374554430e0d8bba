"""The retention policy: restic's semantics, and properties that must always hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyark.errors import Hint, UsageError
from keyark.maintenance.retention import (
    NEWEST_REASON,
    RetentionPolicy,
    apply_policy,
    parse_group_by,
    parse_keep_tag,
    plan_retention,
    within_cutoff,
)
from keyark.repo.snapshot import Snapshot
from keyark.units import CalendarDuration

BASE = datetime(2024, 1, 1, tzinfo=UTC)


def snap(time: datetime, host: str = "h", tags: list[str] | None = None, n: int = 0) -> Snapshot:
    return Snapshot(
        time=time,
        host=host,
        username="u",
        paths=["/data"],
        tree=b"\0" * 32,
        tags=tags or [],
        id=f"{int(time.timestamp()):012x}{n:04x}{host}".ljust(64, "0"),
    )


def kept(snapshots: list[Snapshot], policy: RetentionPolicy) -> set[str]:
    return {d.snapshot.id for d in apply_policy(snapshots, policy, UTC) if d.keep}


def daily(count: int, per_day: int = 1) -> list[Snapshot]:
    return [
        snap(BASE + timedelta(days=day, hours=hour * 3), n=day * 100 + hour)
        for day in range(count)
        for hour in range(per_day)
    ]


# --------------------------------------------------------------------- examples (restic)
def test_keep_last() -> None:
    snapshots = daily(5)
    decisions = apply_policy(snapshots, RetentionPolicy(last=2), UTC)
    assert [d.keep for d in decisions] == [True, True, False, False, False]
    assert decisions[0].reasons == ["last snapshot"]


def test_keep_daily_keeps_newest_of_each_day() -> None:
    snapshots = daily(4, per_day=3)
    decisions = apply_policy(snapshots, RetentionPolicy(daily=2), UTC)
    kept_times = [d.snapshot.time for d in decisions if d.keep]
    assert kept_times == [BASE + timedelta(days=3, hours=6), BASE + timedelta(days=2, hours=6)]


def test_oldest_kept_while_counts_remain() -> None:
    snapshots = daily(2, per_day=2)
    decisions = apply_policy(snapshots, RetentionPolicy(daily=5), UTC)
    assert all(d.keep for d in decisions if d.snapshot.time.hour in (3,))
    oldest = decisions[-1]
    assert oldest.keep
    assert oldest.reasons == ["oldest daily snapshot"]
    # The older snapshot of the newest day is removed: its day is already represented.
    assert not decisions[1].keep


def test_unlimited() -> None:
    snapshots = daily(10)
    assert len(kept(snapshots, RetentionPolicy(daily=-1))) == 10


def test_weekly_monthly_yearly_buckets() -> None:
    snapshots = [snap(BASE + timedelta(days=d), n=d) for d in range(0, 800, 5)]
    by_week = apply_policy(snapshots, RetentionPolicy(weekly=3), UTC)
    weeks = [d.snapshot.time.isocalendar()[:2] for d in by_week if d.keep]
    assert len(set(weeks)) == 3
    by_month = apply_policy(snapshots, RetentionPolicy(monthly=4), UTC)
    assert len([d for d in by_month if d.keep]) == 4
    by_year = apply_policy(snapshots, RetentionPolicy(yearly=5), UTC)
    years = sorted(d.snapshot.time.year for d in by_year if d.keep)
    # 2024, 2025, 2026 each newest, plus the oldest snapshot (2024-01-01) as counts remain.
    assert years == [2024, 2024, 2025, 2026]


def test_keep_hourly() -> None:
    snapshots = [snap(BASE + timedelta(minutes=20 * i), n=i) for i in range(12)]
    decisions = apply_policy(snapshots, RetentionPolicy(hourly=2), UTC)
    assert sum(d.keep for d in decisions) == 2


def test_keep_within() -> None:
    snapshots = daily(40)
    policy = RetentionPolicy(within=CalendarDuration(days=10))
    decisions = apply_policy(snapshots, policy, UTC)
    assert sum(d.keep for d in decisions) == 10
    assert decisions[0].reasons == ["within 10d"]


def test_within_cutoff_calendar_arithmetic() -> None:
    march31 = datetime(2023, 3, 31, 12, tzinfo=UTC)
    # As Go's AddDate: 31 Feb normalises to 3 Mar.
    assert within_cutoff(march31, CalendarDuration(months=1), UTC) == datetime(
        2023, 3, 3, 12, tzinfo=UTC
    )
    assert within_cutoff(march31, CalendarDuration(1, 0, 1, 2), UTC) == datetime(
        2022, 3, 30, 10, tzinfo=UTC
    )


def test_keep_tag_and_newest_always_kept() -> None:
    snapshots = [
        snap(BASE, tags=["keep"], n=1),
        snap(BASE + timedelta(days=1), tags=["keep", "x"], n=2),
        snap(BASE + timedelta(days=2), n=3),
        snap(BASE + timedelta(days=3), n=4),
    ]
    decisions = apply_policy(snapshots, RetentionPolicy(tags=("keep",)), UTC)
    assert [d.keep for d in decisions] == [True, False, True, True]
    assert decisions[0].reasons == [NEWEST_REASON]
    both = apply_policy(snapshots, RetentionPolicy(tags=("keep,x",)), UTC)
    assert [d.keep for d in both] == [True, False, True, False]


def test_reasons_accumulate() -> None:
    decisions = apply_policy(daily(3), RetentionPolicy(last=1, daily=1), UTC)
    assert decisions[0].reasons == ["last snapshot", "daily snapshot"]


def test_group_by() -> None:
    snapshots = daily(3) + [snap(BASE + timedelta(days=d), host="other", n=d) for d in range(3)]
    groups = plan_retention(snapshots, RetentionPolicy(last=1), ("host",), UTC)
    assert [g.key for g in groups] == [{"host": "h"}, {"host": "other"}]
    assert [len(g.kept) for g in groups] == [1, 1]
    single = plan_retention(snapshots, RetentionPolicy(last=1), (), UTC)
    assert len(single) == 1
    assert len(single[0].kept) == 1


def test_buckets_in_the_given_zone() -> None:
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    # 13:00 and 14:00 UTC fall on 1 May in Tokyo (+9), 16:00 UTC on 2 May.
    snapshots = [snap(datetime(2024, 5, 1, hour, tzinfo=UTC), n=hour) for hour in (13, 14, 16)]
    middle = snapshots[1].id
    assert middle not in kept(snapshots, RetentionPolicy(daily=2))
    in_tokyo = {
        d.snapshot.id for d in apply_policy(snapshots, RetentionPolicy(daily=2), tokyo) if d.keep
    }
    assert middle in in_tokyo


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (RetentionPolicy(), "no retention policy"),
        (RetentionPolicy(last=0, daily=0), "no retention policy"),
        (RetentionPolicy(last=-2), "keep last -2"),
        (RetentionPolicy(tags=(",",)), "keep tag ','"),
    ],
)
def test_invalid_policies(policy: RetentionPolicy, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        policy.validate()


def test_parse_group_by() -> None:
    assert parse_group_by("host,paths") == ("host", "paths")
    assert parse_group_by("") == ()
    with pytest.raises(UsageError, match="unknown field 'hostname'"):
        parse_group_by("hostname")
    with pytest.raises(UsageError, match=r"^--group-by 'hostname': unknown field"):
        parse_group_by("hostname", "--group-by")


def test_parse_keep_tag_names_the_option() -> None:
    assert parse_keep_tag("a,b") == "a,b"
    with pytest.raises(UsageError, match=r"^keep tag ',': needs a tag name"):
        parse_keep_tag(",")
    with pytest.raises(UsageError, match=r"^--keep-tag '': needs a tag name"):
        parse_keep_tag("", "--keep-tag")


def test_an_empty_policy_hints_at_the_keep_rules() -> None:
    with pytest.raises(UsageError) as error:
        RetentionPolicy().validate()
    assert error.value.hint is Hint.RETENTION_POLICY and "--" not in str(error.value)


# --------------------------------------------------------------------- properties
counts = st.one_of(st.just(0), st.just(-1), st.integers(1, 6))
durations = st.one_of(
    st.none(),
    st.builds(
        CalendarDuration,
        st.integers(0, 1),
        st.integers(0, 3),
        st.integers(0, 20),
        st.integers(0, 48),
    ).filter(lambda d: not d.is_zero()),
)
policies = st.builds(
    RetentionPolicy,
    last=counts,
    hourly=counts,
    daily=counts,
    weekly=counts,
    monthly=counts,
    yearly=counts,
    within=durations,
    tags=st.lists(st.sampled_from(["a", "b", "a,b"]), max_size=2).map(tuple),
)
snapshot_lists = st.lists(
    st.tuples(
        st.integers(0, 3 * 365 * 24 * 60),  # minutes after BASE, ~3 years
        st.sampled_from(["h1", "h2"]),
        st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True),
    ),
    max_size=40,
).map(
    lambda items: [
        snap(BASE + timedelta(minutes=m), host=h, tags=t, n=i) for i, (m, h, t) in enumerate(items)
    ]
)


@settings(max_examples=300, deadline=None)
@given(snapshot_lists, policies)
def test_newest_of_every_group_is_kept(snapshots: list[Snapshot], policy: RetentionPolicy) -> None:
    for group in plan_retention(snapshots, policy, ("host", "paths"), UTC):
        assert group.decisions[0].keep
        newest = max(group.decisions, key=lambda d: (d.snapshot.time, d.snapshot.id))
        assert newest.keep


@settings(max_examples=300, deadline=None)
@given(snapshot_lists, policies)
def test_idempotent(snapshots: list[Snapshot], policy: RetentionPolicy) -> None:
    first = {s.id for g in plan_retention(snapshots, policy, ("host",), UTC) for s in g.kept}
    remaining = [s for s in snapshots if s.id in first]
    second = {s.id for g in plan_retention(remaining, policy, ("host",), UTC) for s in g.kept}
    assert second == first


@settings(max_examples=300, deadline=None)
@given(snapshot_lists, policies, policies)
def test_larger_policy_keeps_a_superset(
    snapshots: list[Snapshot], small: RetentionPolicy, extra: RetentionPolicy
) -> None:
    def more(a: int, b: int) -> int:
        return -1 if -1 in (a, b) else a + b

    def longer(a: CalendarDuration | None, b: CalendarDuration | None) -> CalendarDuration | None:
        if a is None or b is None:
            return a or b
        return CalendarDuration(
            a.years + b.years, a.months + b.months, a.days + b.days, a.hours + b.hours
        )

    large = RetentionPolicy(
        last=more(small.last, extra.last),
        hourly=more(small.hourly, extra.hourly),
        daily=more(small.daily, extra.daily),
        weekly=more(small.weekly, extra.weekly),
        monthly=more(small.monthly, extra.monthly),
        yearly=more(small.yearly, extra.yearly),
        within=longer(small.within, extra.within),
        tags=small.tags + extra.tags,
    )
    small_kept = {s.id for g in plan_retention(snapshots, small, ("host",), UTC) for s in g.kept}
    large_kept = {s.id for g in plan_retention(snapshots, large, ("host",), UTC) for s in g.kept}
    assert small_kept <= large_kept


@settings(max_examples=200, deadline=None)
@given(snapshot_lists, policies)
def test_every_snapshot_decided_once_with_reasons(
    snapshots: list[Snapshot], policy: RetentionPolicy
) -> None:
    groups = plan_retention(snapshots, policy, ("host", "tags"), UTC)
    decided = [d for g in groups for d in g.decisions]
    assert sorted(d.snapshot.id for d in decided) == sorted(s.id for s in snapshots)
    for decision in decided:
        assert decision.keep == bool(decision.reasons)
