"""``disk``: how full each local filesystem keyark writes is, and repository quotas.

The places: every local repository, every cache directory (a repository's
``cache_dir`` or the default) and the state directory. Places on one filesystem are
one result, named by its mount point. ``repository_quota`` (when set) compares each
repository's stored size (the sum of its objects' sizes, listed from storage) with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from keyark.monitor.environment import CheckEnvironment, graded, unknown
from keyark.monitor.model import CheckResult


def disk(env: CheckEnvironment) -> list[CheckResult]:
    """Used space of each local filesystem keyark writes; repository sizes against the quota."""
    from keyark.cache_dir import default_cache_dir

    places: list[tuple[str, Path]] = []
    for name, entry in env.config.repositories.items():
        local = local_path(entry.url)
        if local is not None:
            places.append((f"repository {name}", local))
        cache = Path(entry.cache_dir).expanduser() if entry.cache_dir else default_cache_dir()
        places.append(("cache", cache))
    places.append(("state", env.state_dir))
    results = _filesystems(env, places)
    if env.thresholds.repository_quota is not None:
        results += [_quota(env, name) for name in env.config.repositories]
    return results


def local_path(url: str) -> Path | None:
    """The directory of a local repository URL (a path or ``file://``); None for remote."""
    if "://" not in url:
        return Path(url).expanduser()
    parts = urlsplit(url)
    return Path(parts.path) if parts.scheme.lower() == "file" else None


def _filesystems(env: CheckEnvironment, places: list[tuple[str, Path]]) -> list[CheckResult]:
    by_device: dict[int, tuple[Path, list[str]]] = {}
    results: list[CheckResult] = []
    for role, path in places:
        existing = _existing(path)
        try:
            device = existing.stat().st_dev
        except OSError as error:
            results.append(unknown("disk", str(path), error))
            continue
        mount, roles = by_device.setdefault(device, (_mount_point(existing), []))
        if role not in roles:
            roles.append(role)
    warning = env.thresholds.disk_warning_percent
    critical = env.thresholds.disk_critical_percent
    for mount, roles in by_device.values():
        try:
            stats = os.statvfs(mount)
        except OSError as error:
            results.append(unknown("disk", str(mount), error))
            continue
        used_blocks = stats.f_blocks - stats.f_bfree
        usable = used_blocks + stats.f_bavail  # as df: the root reserve is not usable
        percent = 100.0 * used_blocks / usable if usable else 0.0
        free = stats.f_bavail * stats.f_frsize
        level = graded(percent, warning, critical)
        message = f"{percent:.1f}% used, {_bytes(free)} free ({', '.join(roles)})"
        threshold = f"{warning:g}%/{critical:g}%"
        results.append(
            CheckResult("disk", str(mount), level, message, round(percent, 1), threshold)
        )
    return results


def _quota(env: CheckEnvironment, name: str) -> CheckResult:
    from keyark.units import parse_size

    quota_text = env.thresholds.repository_quota
    assert quota_text is not None
    quota = parse_size(quota_text, "repository_quota")
    subject = f"{name}/quota"
    try:
        size = repository_size(env, name)
    except Exception as error:  # storage unreachable: the backend check says more
        return unknown("disk", subject, error)
    percent = 100.0 * size / quota if quota else 100.0
    level = graded(percent, env.thresholds.disk_warning_percent, 100.0)
    message = f"repository holds {_bytes(size)} of its {quota_text} quota ({percent:.0f}%)"
    return CheckResult("disk", subject, level, message, size, quota_text)


def repository_size(env: CheckEnvironment, name: str) -> int:
    """The bytes a repository's objects take in storage (listed; no key needed)."""
    from keyark.backends.registry import open_storage

    ctx = env.repository(name)
    backend = open_storage(ctx.url, ctx.backend_options())
    try:
        return sum(info.size for info in backend.list(""))
    finally:
        backend.close()


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (a cache not created yet lands on its disk)."""
    current = path.expanduser().absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _mount_point(path: Path) -> Path:
    current = path.resolve()
    while current != current.parent and not os.path.ismount(current):
        current = current.parent
    return current


def _bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


__all__ = ["disk", "local_path", "repository_size"]
