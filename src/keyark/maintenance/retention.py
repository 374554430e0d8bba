"""Retention policies (forget's keep rules): a pure function from snapshots to decisions.

The semantics are restic's:

- snapshots are grouped (by default by host and paths) and each group is
  judged on its own, newest first;
- keep last N keeps the N newest; keep hourly/daily/weekly/monthly/
  yearly N keep the newest snapshot of each of the N newest periods that have
  one (periods in local time; weeks are ISO weeks); when fewer periods exist
  than N, the oldest snapshot is kept as well ("oldest daily snapshot");
  ``-1`` means unlimited;
- keep within ``1y2m3d4h`` keeps every snapshot newer than the newest
  snapshot of the group minus that duration;
- keep tag ``a,b`` keeps every snapshot carrying all of ``a`` and ``b``;
- a snapshot kept by any rule is kept, with every rule that kept it as reason;
- ``max_snapshots`` N (keyark's, from the config file's retention): after the rules
  (or, with no other rule, of every snapshot) only the N newest kept ones stay; the
  others are removed with the reason ``over max_snapshots N``.

One deliberate safety rule on top: the newest snapshot of a group is never
removed (restic removes it under a tags-only policy when it lacks the tag).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from keyark.errors import Hint, UsageError
from keyark.repo.snapshot import Snapshot
from keyark.units import CalendarDuration

UNLIMITED = -1
GROUP_FIELDS = ("host", "paths", "tags")
DEFAULT_GROUP_BY = ("host", "paths")
NEWEST_REASON = "newest snapshot of its group (always kept)"
#: Why a snapshot the keep rules kept is removed all the same.
OVER_CAP_REASON = "over max_snapshots {cap}"

Bucketer = Callable[[datetime, int], int]
#: The count rules of a policy, in the order restic reports them.
COUNT_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


@dataclass(frozen=True)
class RetentionPolicy:
    """Which snapshots to keep; counts of 0 disable a rule, -1 is unlimited."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: CalendarDuration | None = None
    tags: tuple[str, ...] = ()
    #: After the rules, keep at most this many snapshots of a group (the newest).
    max_snapshots: int | None = None

    def counts(self) -> dict[str, int]:
        """The count rules by name (``last``, ``hourly`` ... ``yearly``)."""
        return {name: int(getattr(self, name)) for name in COUNT_RULES}

    def is_empty(self) -> bool:
        """True when no rule would keep anything (``forget`` then refuses)."""
        return not self.max_snapshots and self.has_no_rules()

    def has_no_rules(self) -> bool:
        """True when no keep rule is given (``max_snapshots`` aside)."""
        return (
            all(count == 0 for count in self.counts().values())
            and (self.within is None or self.within.is_zero())
            and not self.tag_sets()
        )

    def tag_sets(self) -> list[frozenset[str]]:
        """Each keep-tag value as the set of tags a snapshot must all carry."""
        sets = [frozenset(t for t in value.split(",") if t) for value in self.tags]
        return [s for s in sets if s]

    def validate(self) -> None:
        """Raise :class:`UsageError` for contradictory or empty policies."""
        for name, count in self.counts().items():
            if count < UNLIMITED:
                raise UsageError(
                    f"keep {name} {count}: a count must be 0 or more (or -1/unlimited)"
                )
        for value in self.tags:
            parse_keep_tag(value)
        if self.max_snapshots is not None and self.max_snapshots < 1:
            raise UsageError(f"max snapshots {self.max_snapshots}: keep at least 1")
        if self.is_empty():
            raise UsageError(
                "no retention policy given: forget would remove every snapshot "
                "(nothing was removed)",
                hint=Hint.RETENTION_POLICY,
            )

    def describe(self) -> str:
        """Human summary, e.g. ``keep 7 daily, 4 weekly snapshots, all within 1m``."""
        parts = []
        for name, count in self.counts().items():
            label = "latest" if name == "last" else name
            if count == UNLIMITED:
                parts.append(f"all {label}")
            elif count:
                parts.append(f"{count} {label}")
        text = f"keep {', '.join(parts)} snapshots" if parts else "keep"
        if self.within is not None and not self.within.is_zero():
            text += f"{',' if parts else ''} all snapshots within {self.within} of the newest"
        if self.tag_sets():
            tags = " or ".join(f"[{','.join(sorted(s))}]" for s in self.tag_sets())
            text += f"{',' if parts or self.within else ''} snapshots with tags {tags}"
        if self.max_snapshots:
            text += f"{',' if text != 'keep' else ''} at most {self.max_snapshots} snapshots"
        return text


@dataclass
class Decision:
    """Whether one snapshot is kept, and every rule that keeps it."""

    snapshot: Snapshot
    keep: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class GroupDecisions:
    """The decisions for one group (newest first) and the group's key."""

    key: dict[str, Any]
    decisions: list[Decision]

    @property
    def kept(self) -> list[Snapshot]:
        return [d.snapshot for d in self.decisions if d.keep]

    @property
    def removed(self) -> list[Snapshot]:
        return [d.snapshot for d in self.decisions if not d.keep]


def parse_group_by(text: str, option: str = "group by") -> tuple[str, ...]:
    """``host,paths,tags`` (any subset, or empty for one group) as a tuple of fields.

    ``option`` is what the face calls the value in its error (the CLI: ``--group-by``).
    """
    fields = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in fields:
        if name not in GROUP_FIELDS:
            raise UsageError(
                f"{option} {text!r}: unknown field {name!r}; use host, paths and/or tags"
            )
    return fields


def parse_keep_tag(text: str, option: str = "keep tag") -> str:
    """A keep-tag value (``a,b``: snapshots with all of them); refuse one without a tag.

    ``option`` is what the face calls the value in its error (the CLI: ``--keep-tag``).
    """
    if not any(t for t in text.split(",")):
        raise UsageError(f"{option} {text!r}: needs a tag name; an empty tag keeps nothing")
    return text


def group_key(snapshot: Snapshot, group_by: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    key: list[tuple[str, ...]] = []
    for name in group_by:
        if name == "host":
            key.append((snapshot.host,))
        elif name == "paths":
            key.append(tuple(sorted(snapshot.paths)))
        elif name == "tags":
            key.append(tuple(sorted(set(snapshot.tags))))
    return tuple(key)


def group_snapshots(
    snapshots: Iterable[Snapshot], group_by: Sequence[str] = DEFAULT_GROUP_BY
) -> list[tuple[dict[str, Any], list[Snapshot]]]:
    """Snapshots split into groups (ordered by key), each list oldest first."""
    groups: dict[tuple[tuple[str, ...], ...], list[Snapshot]] = {}
    for snapshot in snapshots:
        groups.setdefault(group_key(snapshot, group_by), []).append(snapshot)
    result = []
    for key in sorted(groups):
        described: dict[str, Any] = {}
        for name, value in zip(group_by, key, strict=True):
            described[name] = value[0] if name == "host" else list(value)
        result.append((described, sorted(groups[key], key=_order)))
    return result


def _order(snapshot: Snapshot) -> tuple[datetime, str]:
    return snapshot.time, snapshot.id


def _buckets(zone: tzinfo | None) -> list[tuple[str, Bucketer]]:
    def local(t: datetime) -> datetime:
        return t.astimezone(zone)

    def ymdh(t: datetime, _nr: int) -> int:
        t = local(t)
        return t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour

    def ymd(t: datetime, _nr: int) -> int:
        t = local(t)
        return t.year * 10_000 + t.month * 100 + t.day

    def yw(t: datetime, _nr: int) -> int:
        year, week, _day = local(t).isocalendar()
        return year * 100 + week

    def ym(t: datetime, _nr: int) -> int:
        t = local(t)
        return t.year * 100 + t.month

    def y(t: datetime, _nr: int) -> int:
        return local(t).year

    return [
        ("last", lambda _t, nr: nr),
        ("hourly", ymdh),
        ("daily", ymd),
        ("weekly", yw),
        ("monthly", ym),
        ("yearly", y),
    ]


def within_cutoff(newest: datetime, duration: CalendarDuration, zone: tzinfo | None) -> datetime:
    """``newest`` minus the duration, calendar-wise in local time (as Go's AddDate)."""
    t = newest.astimezone(zone)
    months = t.year * 12 + (t.month - 1) - duration.years * 12 - duration.months
    year, month = divmod(months, 12)
    month += 1
    # Go normalises day overflow (31 Feb -> 3 Mar); so do we.
    overflow = max(0, t.day - calendar.monthrange(year, month)[1])
    shifted = t.replace(year=year, month=month, day=t.day - overflow) + timedelta(days=overflow)
    return shifted - timedelta(days=duration.days, hours=duration.hours)


def apply_policy(
    snapshots: Iterable[Snapshot], policy: RetentionPolicy, zone: tzinfo | None = None
) -> list[Decision]:
    """Decide for one group of snapshots; the result is newest first.

    ``zone`` is the time zone periods are counted in (None: this machine's).
    """
    ordered = sorted(snapshots, key=_order, reverse=True)
    if not ordered:
        return []
    counts = policy.counts()
    remaining = {name: counts[name] for name, _ in _buckets(zone)}
    last_value: dict[str, int | None] = dict.fromkeys(remaining)
    buckets = _buckets(zone)
    tag_sets = policy.tag_sets()
    cutoff = (
        within_cutoff(ordered[0].time, policy.within, zone)
        if policy.within is not None and not policy.within.is_zero()
        else None
    )
    decisions: list[Decision] = []
    for nr, snapshot in enumerate(ordered):
        reasons: list[str] = []
        present = set(snapshot.tags)
        for tags in tag_sets:
            if tags <= present:
                reasons.append(f"has tags [{','.join(sorted(tags))}]")
        if cutoff is not None and snapshot.time > cutoff:
            reasons.append(f"within {policy.within}")
        for name, bucketer in buckets:
            if remaining[name] == 0:
                continue
            value = bucketer(snapshot.time, nr)
            new_period = value != last_value[name]
            oldest = nr == len(ordered) - 1
            if new_period or oldest:
                last_value[name] = value
                if remaining[name] > 0:
                    remaining[name] -= 1
                label = f"{name} snapshot"
                reasons.append(label if new_period else f"oldest {label}")
        decisions.append(Decision(snapshot, bool(reasons), reasons))
    if policy.max_snapshots:
        _cap(decisions, policy)
    if not decisions[0].keep:
        decisions[0].keep = True
        decisions[0].reasons.append(NEWEST_REASON)
    return decisions


def _cap(decisions: list[Decision], policy: RetentionPolicy) -> None:
    """Keep only the ``max_snapshots`` newest of the kept (of all, with no other rule)."""
    cap = policy.max_snapshots or 0
    only_cap = policy.has_no_rules()
    kept = 0
    for decision in decisions:  # newest first
        if only_cap:
            decision.keep, decision.reasons = True, [f"within max_snapshots {cap}"]
        if not decision.keep:
            continue
        kept += 1
        if kept > cap:
            decision.keep, decision.reasons = False, [OVER_CAP_REASON.format(cap=cap)]


def plan_retention(
    snapshots: Iterable[Snapshot],
    policy: RetentionPolicy,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    zone: tzinfo | None = None,
) -> list[GroupDecisions]:
    """Group the snapshots and apply the policy to each group."""
    return [
        GroupDecisions(key, apply_policy(members, policy, zone))
        for key, members in group_snapshots(snapshots, group_by)
    ]


__all__ = [
    "DEFAULT_GROUP_BY",
    "GROUP_FIELDS",
    "NEWEST_REASON",
    "OVER_CAP_REASON",
    "UNLIMITED",
    "Decision",
    "GroupDecisions",
    "RetentionPolicy",
    "apply_policy",
    "group_snapshots",
    "parse_group_by",
    "parse_keep_tag",
    "plan_retention",
    "within_cutoff",
]
