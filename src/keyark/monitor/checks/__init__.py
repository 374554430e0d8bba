"""The health checks, one module per family; :data:`FAMILIES` names each family's checks.

Each check returns :class:`~keyark.monitor.model.CheckResult` values, one per subject
(a job, a repository, a filesystem); a check that cannot run gives UNKNOWN.
"""

from __future__ import annotations

from keyark.monitor.environment import CheckFamily

#: Check name -> "module:function" of the family that computes it.
_PLACES: dict[str, str] = {
    "backup_age": "keyark.monitor.checks.fleet:backup_age",
    "last_run": "keyark.monitor.checks.jobs:last_run",
    "key_age": "keyark.monitor.checks.keys:key_age",
    "disk": "keyark.monitor.checks.disk:disk",
    "backend": "keyark.monitor.checks.backend:backend",
    "locks": "keyark.monitor.checks.keys:locks",
    "integrity": "keyark.monitor.checks.integrity:integrity",
    "drill": "keyark.monitor.checks.drills:drill",
    "certificates": "keyark.monitor.checks.inventory:certificates",
    "weak_keys": "keyark.monitor.checks.inventory:weak_keys",
    "system": "keyark.monitor.checks.system:system",
}

#: Every check, in the order they run and print.
CHECK_NAMES: tuple[str, ...] = tuple(_PLACES)


def family(name: str) -> CheckFamily:
    """The function computing check ``name`` (``KeyError`` for an unknown name)."""
    from importlib import import_module

    module, _, function = _PLACES[name].partition(":")
    found: CheckFamily = getattr(import_module(module), function)
    return found
