"""``backend``: each repository's storage reachable, how fast, and its Object Lock in force.

Reading the repository's config object (no key needed) is timed: a failure is
CRITICAL, a read slower than ``backend_latency_warning_seconds`` a WARNING. A
repository whose config records S3 Object Lock must still have it enabled on its
bucket (CRITICAL otherwise: new objects would be deletable).
"""

from __future__ import annotations

import time
from dataclasses import replace

from keyark.backends.base import Backend
from keyark.backends.registry import BackendOptions
from keyark.monitor.environment import CheckEnvironment, unknown
from keyark.monitor.model import CheckResult, Level


def backend(env: CheckEnvironment) -> list[CheckResult]:
    """Reachability, latency and Object Lock of every repository's storage."""
    results: list[CheckResult] = []
    for name in env.config.repositories:
        try:
            ctx = env.repository(name)
            options = ctx.backend_options()
        except Exception as error:
            results.append(unknown("backend", name, error))
            continue
        results.append(_reach(env, name, ctx.url, options))
    return results


def _reach(env: CheckEnvironment, name: str, url: str, options: BackendOptions) -> CheckResult:
    from keyark.storage import open_repository_storage, settings_in

    limit = env.thresholds.backend_latency_warning_seconds
    threshold = f"{limit:g} s"
    started = time.monotonic()
    try:
        storage, config_bytes = open_repository_storage(url, replace(options, retry_attempts=1))
    except Exception as error:
        message = f"unreachable: {_first_line(error)}"
        return CheckResult("backend", name, Level.CRITICAL, message, None, threshold)
    try:
        seconds = time.monotonic() - started
        if config_bytes is None:
            message = "reachable, but no repository there (its config object is missing)"
            return CheckResult("backend", name, Level.CRITICAL, message, seconds, threshold)
        locked = bool(settings_in(config_bytes).get("s3_object_lock_days"))
        lock_problem = _object_lock_problem(storage) if locked else None
    finally:
        storage.close()
    value = round(seconds, 3)
    if lock_problem is not None:
        return CheckResult("backend", name, Level.CRITICAL, lock_problem, value, threshold)
    level = Level.WARNING if seconds > limit else Level.OK
    message = f"reachable in {seconds * 1000:.0f} ms" + ("; Object Lock in force" if locked else "")
    return CheckResult("backend", name, level, message, value, threshold)


def _object_lock_problem(storage: Backend) -> str | None:
    """Why the bucket's Object Lock is not in force (None: it is)."""
    require = getattr(storage, "require_object_lock", None)
    if require is None:
        return None
    try:
        require()
    except Exception as error:
        return f"Object Lock is no longer in force: {_first_line(error)}"
    return None


def _first_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]
