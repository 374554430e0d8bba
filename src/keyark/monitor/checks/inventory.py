"""``certificates`` and ``weak_keys``: the inventory of each job's latest snapshot.

The inventory operation (the inventory issue) lists the certificates and keys a
snapshot holds. ``certificates``: the earliest expiry per job, against
``cert_expiry_warning_days`` / ``cert_expiry_critical_days`` (expired: CRITICAL).
``weak_keys``: weak algorithms (short RSA, DSA, MD5/SHA-1 signatures) are a WARNING;
a secret readable by group or others is CRITICAL (a WARNING when it is encrypted). While the
inventory operation is missing from this build both are UNKNOWN, saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from keyark.config.document import JobSpec, MonitorThresholds
from keyark.monitor.environment import CheckEnvironment, unknown
from keyark.monitor.model import CheckResult, Level

#: Flags that make a key or certificate weak.
WEAK_FLAGS = ("weak-rsa", "dsa", "sha1-signature", "md5-signature")
#: A secret (private key, bundle, credentials) readable by group or others.
READABLE = "group-or-world-readable"
#: What is said while the inventory operation does not exist.
MISSING = "the key and certificate inventory is not available in this build"


class InventoryMissingError(Exception):
    """The inventory operation is not part of this build."""


def certificates(env: CheckEnvironment) -> list[CheckResult]:
    """The earliest certificate expiry in each job's latest snapshot."""
    return _per_job(env, "certificates", lambda findings: expiry(findings, env.thresholds, env.now))


def weak_keys(env: CheckEnvironment) -> list[CheckResult]:
    """Weak or over-exposed keys in each job's latest snapshot."""
    return _per_job(env, "weak_keys", weakness)


def expiry(
    findings: Sequence[Any], thresholds: MonitorThresholds, now: datetime
) -> tuple[Level, str, float | None]:
    """(level, message, days left) for the earliest-expiring certificate of ``findings``."""
    dated = [
        finding
        for finding in findings
        if finding.kind == "certificate" and finding.not_after is not None
    ]
    if not dated:
        return Level.OK, "no certificate", None
    earliest = min(dated, key=lambda finding: _aware(finding.not_after))
    days = (_aware(earliest.not_after) - now).total_seconds() / 86400
    what = f"{earliest.name or earliest.subject or 'certificate'} ({earliest.path})"
    when = _aware(earliest.not_after).date().isoformat()
    if days < 0:
        return Level.CRITICAL, f"{what} expired on {when}", round(days, 2)
    level = Level.OK
    if days <= thresholds.cert_expiry_critical_days:
        level = Level.CRITICAL
    elif days <= thresholds.cert_expiry_warning_days:
        level = Level.WARNING
    message = f"{what} expires in {days:.1f} days ({when}); {len(dated)} certificate(s)"
    return level, message, round(days, 2)


def weakness(findings: Sequence[Any]) -> tuple[Level, str, float | None]:
    """(level, message, count) for the weak and over-exposed secrets of ``findings``.

    A secret readable by group or others is CRITICAL unless it is encrypted (then a
    WARNING); a weak algorithm or signature is a WARNING.
    """
    readable = [finding for finding in findings if READABLE in finding.flags]
    exposed = [finding for finding in readable if finding.encrypted is not True]
    weak = [finding for finding in findings if any(flag in finding.flags for flag in WEAK_FLAGS)]
    count = float(len(readable) + len(weak))
    if exposed:
        paths = ", ".join(finding.path for finding in exposed[:3])
        return (
            Level.CRITICAL,
            f"{len(exposed)} unprotected secret(s) readable by others: {paths}",
            count,
        )
    problems: list[str] = []
    if readable:
        paths = ", ".join(finding.path for finding in readable[:3])
        problems.append(f"{len(readable)} encrypted secret(s) readable by others: {paths}")
    if weak:
        described = ", ".join(
            f"{finding.path} ({'/'.join(f for f in finding.flags if f in WEAK_FLAGS)})"
            for finding in weak[:3]
        )
        problems.append(f"{len(weak)} weak key(s) or signature(s): {described}")
    if problems:
        return Level.WARNING, "; ".join(problems), count
    return Level.OK, "no weak or over-exposed key", 0.0


def _per_job(env: CheckEnvironment, check: str, judge: Any) -> list[CheckResult]:
    results: list[CheckResult] = []
    for name, job in env.config.jobs.items():
        if not env.runs.runs(name, status="success", limit=1) and not env.runs.runs(
            name, status="partial", limit=1
        ):
            results.append(CheckResult(check, name, Level.OK, "no snapshot yet"))
            continue
        try:
            found = _findings(env, name, job)
        except InventoryMissingError:
            results.append(unknown(check, name, MISSING))
            continue
        except Exception as error:
            results.append(unknown(check, name, error))
            continue
        if found is None:
            results.append(CheckResult(check, name, Level.OK, "no snapshot, or none inventoried"))
            continue
        level, message, value = judge(found)
        threshold = None
        if check == "certificates":
            t = env.thresholds
            threshold = f"{t.cert_expiry_warning_days}/{t.cert_expiry_critical_days} days"
        results.append(CheckResult(check, name, level, message, value, threshold))
    return results


def _findings(env: CheckEnvironment, name: str, job: JobSpec) -> list[Any] | None:
    """The findings of the job's latest snapshot (None: no snapshot or no inventory)."""
    key = f"inventory:{name}"
    if key in env.memo:
        cached: list[Any] | None = env.memo[key]  # type: ignore[assignment]
        return cached
    from importlib import import_module

    try:
        module = import_module("keyark.ops.inventory")
    except ModuleNotFoundError as error:
        raise InventoryMissingError(MISSING) from error
    options = module.InventoryOptions(
        snapshot="latest", host=job.host, tags=list(job.tags), paths=list(job.sources)
    )
    result = module.inventory(env.repository(job.repository), options)
    found = list(result.findings) if getattr(result, "built", True) else None
    env.memo[key] = found
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
