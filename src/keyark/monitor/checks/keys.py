"""``key_age`` and ``locks``: what an open repository says about its keys and locks.

``key_age`` per repository: the current data key's age against
``key_age_warning_days`` / ``key_age_critical_days`` (the rotation policy's 80/90
days by default), the AES-GCM nonce budget of the current key (blobs sealed against
the rotation policy's limits), the root key's age (since init or the last root
rotation) against ``root_key_age_warning_days``, and, when ``slot_age_warning_days``
is set, key slots older than that. ``locks``: locks whose holders are gone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from keyark.monitor.environment import CheckEnvironment, graded, unknown
from keyark.monitor.model import CheckResult, Level

if TYPE_CHECKING:
    from keyark.maintenance.rotate import KeyStatus


def key_age(env: CheckEnvironment) -> list[CheckResult]:
    """Data-key age, nonce budget and slot age of each repository."""
    from keyark.maintenance.rotate import RotationPolicy

    thresholds = env.thresholds
    results: list[CheckResult] = []
    for name in env.config.repositories:
        facts = env.facts(name)
        status = facts.key_status
        if status is None:
            results.append(unknown("key_age", name, facts.error or "no key status"))
            continue
        current = next((epoch for epoch in status.epochs if epoch.id == status.current), None)
        if current is None:
            results.append(unknown("key_age", name, "the current data key is not in the keyring"))
            continue
        days = current.age_days
        level = graded(days, thresholds.key_age_warning_days, thresholds.key_age_critical_days)
        message = f"data key {current.id[:8]} is {days:.0f} days old"
        policy = RotationPolicy()
        budget = graded(current.blobs, policy.warn_encryptions, policy.max_encryptions)
        if budget > Level.OK:
            message += f"; it sealed {current.blobs} blobs (nonce budget {policy.max_encryptions})"
        level = max(level, budget)
        if status.due:
            level = max(level, Level.WARNING)
            message += f"; rotation due: {status.reason}"
        threshold = f"{thresholds.key_age_warning_days}/{thresholds.key_age_critical_days} days"
        results.append(CheckResult("key_age", name, level, message, days, threshold))
        if thresholds.slot_age_warning_days is not None:
            results.append(_slot_age(env, name, thresholds.slot_age_warning_days))
        if thresholds.root_key_age_warning_days is not None:
            results.append(_root_age(name, status, thresholds.root_key_age_warning_days))
    return results


def _root_age(name: str, status: KeyStatus, limit: int) -> CheckResult:
    """The keyring key's age (since init or the last root rotation) against ``limit``."""
    subject = f"{name}/root"
    days = status.root_age_days
    if days is None:
        message = "the root key's age is not recorded (its keyring predates the record)"
        return CheckResult("key_age", subject, Level.INFO, message, None, f"{limit} days")
    level = Level.WARNING if days >= limit else Level.OK
    message = f"the root key is {days:.0f} days old"
    if level is Level.WARNING:
        message += "; rotate the root key"
    return CheckResult("key_age", subject, level, message, days, f"{limit} days")


def _slot_age(env: CheckEnvironment, name: str, limit: int) -> CheckResult:
    old: list[str] = []
    oldest = 0.0
    for slot in env.facts(name).slots:
        created = datetime.fromisoformat(slot.created)
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        days = (env.now - created).total_seconds() / 86400
        oldest = max(oldest, days)
        if days >= limit:
            old.append(f"{slot.slot_id[:8]} ({slot.kind}, {days:.0f} days)")
    subject = f"{name}/slots"
    if old:
        message = f"{len(old)} key slot(s) older than {limit} days: {', '.join(old)}"
        return CheckResult("key_age", subject, Level.WARNING, message, round(oldest, 1))
    message = f"every key slot is younger than {limit} days"
    return CheckResult("key_age", subject, Level.OK, message, round(oldest, 1), f"{limit} days")


def locks(env: CheckEnvironment) -> list[CheckResult]:
    """Stale locks (their holders are gone) in each repository: WARNING."""
    results: list[CheckResult] = []
    for name in env.config.repositories:
        facts = env.facts(name)
        if facts.error is not None:
            results.append(unknown("locks", name, facts.error))
            continue
        stale = [info for info in facts.locks if info.is_stale()]
        if stale:
            described = "; ".join(info.describe() for info in stale[:3])
            message = f"{len(stale)} stale lock(s): {described}"
            results.append(CheckResult("locks", name, Level.WARNING, message, len(stale)))
        else:
            message = f"{len(facts.locks)} lock(s), none stale"
            results.append(CheckResult("locks", name, Level.OK, message, 0))
    return results
