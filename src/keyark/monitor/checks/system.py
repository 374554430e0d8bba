"""``system``: load, memory and swap of this host (from ``/proc``).

Load is the 5-minute average per CPU; memory in use is ``MemTotal - MemAvailable``.
"""

from __future__ import annotations

import os
from pathlib import Path

from keyark.monitor.environment import CheckEnvironment, graded, unknown
from keyark.monitor.model import CheckResult, Level

#: Where the numbers come from (a test may point it elsewhere).
PROC = Path("/proc")


def system(env: CheckEnvironment) -> list[CheckResult]:
    """Load per CPU, memory and swap use against the thresholds."""
    thresholds = env.thresholds
    results: list[CheckResult] = []
    try:
        load = float((PROC / "loadavg").read_text().split()[1])
        cpus = os.cpu_count() or 1
        per_cpu = load / cpus
        level = graded(per_cpu, thresholds.load_warning_per_cpu, thresholds.load_critical_per_cpu)
        message = f"5-minute load {load:.2f} on {cpus} CPU(s)"
        threshold = f"{thresholds.load_warning_per_cpu:g}/{thresholds.load_critical_per_cpu:g}"
        results.append(CheckResult("system", "load", level, message, round(per_cpu, 2), threshold))
    except (OSError, ValueError, IndexError) as error:
        results.append(unknown("system", "load", error))
    try:
        info = meminfo()
    except (OSError, ValueError) as error:
        return [*results, unknown("system", "memory", error)]
    total, available = info.get("MemTotal", 0), info.get("MemAvailable", 0)
    results.append(
        _percent(
            "memory",
            total - available,
            total,
            thresholds.memory_warning_percent,
            thresholds.memory_critical_percent,
        )
    )
    swap_total, swap_free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
    if swap_total:
        results.append(
            _percent(
                "swap",
                swap_total - swap_free,
                swap_total,
                thresholds.swap_warning_percent,
                thresholds.swap_critical_percent,
            )
        )
    else:
        results.append(CheckResult("system", "swap", Level.OK, "no swap", 0.0))
    return results


def meminfo() -> dict[str, int]:
    """``/proc/meminfo`` in KiB by field name."""
    found: dict[str, int] = {}
    for line in (PROC / "meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            found[name] = int(parts[0])
    return found


def _percent(subject: str, used: int, total: int, warning: float, critical: float) -> CheckResult:
    percent = 100.0 * used / total if total else 0.0
    level = graded(percent, warning, critical)
    message = f"{percent:.1f}% in use ({used // 1024} of {total // 1024} MiB)"
    return CheckResult(
        "system", subject, level, message, round(percent, 1), f"{warning:g}%/{critical:g}%"
    )
