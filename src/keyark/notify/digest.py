"""The daily digest: when one is due, and the summary alert of the day's alerts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from keyark.monitor.model import Alert, Level
from keyark.notify.message import level_label

if TYPE_CHECKING:
    from keyark.config.notifications import ChannelSpec

#: At most this many alerts are listed in one digest (the counts cover all).
LISTED = 50
#: A channel's first digest is sent only this soon after its time.
FIRST_WINDOW = timedelta(hours=1)


def digest_due(
    spec: ChannelSpec, now: datetime, zone: tzinfo, last_sent: datetime | None
) -> datetime | None:
    """The digest time the channel is due for (the latest ``daily at`` time not after
    ``now``, in ``zone``), or None when there is no digest or that one was sent.

    A channel that never sent one starts at the first digest time seen within
    :data:`FIRST_WINDOW` (not at once for yesterday's); after that a digest missed
    while nothing ran is sent late.
    """
    at = spec.digest_time()
    if at is None:
        return None
    local = now.astimezone(zone)
    moment = datetime.combine(local.date(), at, tzinfo=zone)
    if moment > local:
        moment = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=zone)
    if last_sent is None:
        return moment if local - moment <= FIRST_WINDOW else None
    return None if last_sent >= moment else moment


def digest_alert(key: str, alerts: list[Alert], now: datetime, *, since: datetime) -> Alert:
    """The summary of ``alerts`` (at the worst level among them; INFO when calm)."""
    counts = Counter(level_label(alert).lower() for alert in alerts)
    worst = max((alert.level for alert in alerts if alert.kind != "resolved"), default=Level.INFO)
    summary = ", ".join(
        f"{counts[name]} {name}"
        for name in ("critical", "warning", "info", "unknown", "resolved")
        if counts[name]
    )
    title = (
        f"daily digest: {len(alerts)} alert{'s' if len(alerts) != 1 else ''} ({summary})"
        if alerts
        else "daily digest: no alerts"
    )
    lines = (
        [f"Alerts since {since.isoformat(timespec='minutes')}:"]
        if alerts
        else [f"No alerts since {since.isoformat(timespec='minutes')}."]
    )
    for alert in alerts[-LISTED:]:
        lines.append(
            f"{alert.time.isoformat(timespec='minutes')} {level_label(alert)} {alert.key}: "
            f"{alert.title}"
        )
    if len(alerts) > LISTED:
        lines.append(f"(and {len(alerts) - LISTED} earlier)")
    return Alert(
        key=key,
        level=max(worst, Level.INFO),
        title=title,
        message="\n".join(lines),
        time=now,
        kind="digest",
    )
