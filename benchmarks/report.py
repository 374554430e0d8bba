"""The comparison table: one row per corpus, operation and cache state, with the targets.

Targets (issue 19, section 3):

* time: keyark <= 0.8 x the faster of restic and borg, cold and warm;
* peak memory: keyark <= restic's;
* metadata commands (``snapshots``, ``ls``, ``find``): also within 0.3 s of restic;
* backup with no change <= 1.5 x ``find TREE -printf '%s %T@\\n'`` (the cost of stat-ing
  every file); restore <= 2 x ``tar -x`` of the same files from a local tar;
* repository size after the last backup: keyark <= 1.05 x restic's (one line per corpus).

A time target counts as met when either of keyark's two relative targets is met for the
metadata commands (0.8 x or + 0.3 s), since the issue gives both for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from measure import Measurement

TOOLS = ("keyark", "restic", "borg")
REFERENCE = "reference"  # find -printf and tar -x, measured like the tools
OPERATIONS = (
    "backup1", "backup2", "backup3", "restore", "check", "snapshots", "ls", "find", "version",
)  # fmt: skip
OP_LABELS = {
    "init": "init",
    "backup1": "first backup",
    "backup2": "backup, no change",
    "backup3": "backup, 1% changed",
    "restore": "restore",
    "check": "check --read-data",
    "snapshots": "snapshots",
    "ls": "ls latest",
    "find": "find NAME",
    "version": "start-up (version)",
    "find-printf": "find -printf (reference)",
    "tar-x": "tar -x (reference)",
}
METADATA = ("snapshots", "ls", "find")
#: keyark's operation -> (reference operation, largest keyark / reference).
REFERENCE_TARGETS = {"backup2": ("find-printf", 1.5), "restore": ("tar-x", 2.0)}
TIME_TARGET = 0.8  # keyark time / min(restic, borg)
METADATA_SLACK = 0.3  # keyark time - restic time, seconds
MEMORY_TARGET = 1.0  # keyark peak RSS / restic's
SIZE_TARGET = 1.05  # keyark repository size / restic's
MIB = 1 << 20


@dataclass
class RunResult:
    """One tool's sequence on one corpus in one cache state."""

    corpus: str
    tool: str
    cache: str
    measurements: list[Measurement]
    repo_bytes: int | None = None
    restore_ok: bool | None = None
    restore_problems: list[str] = field(default_factory=list)
    error: str | None = None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


class Figures:
    """Look-ups over every run: fastest time and largest peak memory over repeats."""

    def __init__(self, results: list[RunResult]) -> None:
        self._runs: dict[tuple[str, str, str], list[RunResult]] = {}
        for result in results:
            self._runs.setdefault((result.corpus, result.tool, result.cache), []).append(result)

    def ran(self, corpus: str, tool: str, cache: str, op: str) -> bool:
        """Whether TOOL ran OP on CORPUS in this cache state (successfully or not)."""
        runs = self._runs.get((corpus, tool, cache), [])
        return any(m.op == op for r in runs for m in r.measurements)

    def _found(self, corpus: str, tool: str, cache: str, op: str) -> list[Measurement] | None:
        runs = self._runs.get((corpus, tool, cache), [])
        found = [m for r in runs for m in r.measurements if m.op == op and m.returncode == 0]
        return found if found and len(found) >= len(runs) else None  # None: failed once

    def seconds(self, corpus: str, tool: str, cache: str, op: str) -> float | None:
        """Fastest wall time of OP, or None (not run, or failed at least once)."""
        found = self._found(corpus, tool, cache, op)
        return min(m.seconds for m in found) if found else None

    def peak_mib(self, corpus: str, tool: str, cache: str, op: str) -> float | None:
        """Largest peak RSS of OP in MiB, or None."""
        found = self._found(corpus, tool, cache, op)
        return max(m.max_rss_kib for m in found) / 1024 if found else None

    def load(self, corpus: str, tool: str, cache: str, op: str) -> float | None:
        """Largest 1-minute load average seen before OP."""
        runs = self._runs.get((corpus, tool, cache), [])
        loads = [m.load_average for r in runs for m in r.measurements if m.op == op]
        return max(loads) if loads else None

    def repo_mib(self, corpus: str, tool: str) -> float | None:
        """Largest repository size after the last backup over every run of TOOL on CORPUS."""
        sizes = [
            r.repo_bytes / MIB
            for (c, t, _), runs in self._runs.items()
            if c == corpus and t == tool
            for r in runs
            if r.repo_bytes is not None
        ]
        return max(sizes) if sizes else None


def build_rows(
    results: list[RunResult], corpora: list[str], caches: list[str]
) -> list[dict[str, object]]:
    """One row per corpus x operation x cache state (only operations something ran)."""
    figures = Figures(results)
    rows: list[dict[str, object]] = []
    for corpus in corpora:
        for op in OPERATIONS:
            for cache in caches:
                row = _row(figures, corpus, op, cache)
                if row is not None:
                    rows.append(row)
    return rows


def _row(figures: Figures, corpus: str, op: str, cache: str) -> dict[str, object] | None:
    times = {t: figures.seconds(corpus, t, cache, op) for t in TOOLS}
    peaks = {t: figures.peak_mib(corpus, t, cache, op) for t in TOOLS}
    if not any(figures.ran(corpus, t, cache, op) for t in TOOLS):
        return None
    k = times["keyark"]
    others = [x for x in (times["restic"], times["borg"]) if x is not None]
    k_min = _ratio(k, min(others)) if others else None
    verdicts: list[str] = []
    if k is None:
        verdicts.append("FAILED" if figures.ran(corpus, "keyark", cache, op) else "-")
    else:
        time_ok = k_min is not None and k_min <= TIME_TARGET
        if op in METADATA and times["restic"] is not None:
            slack = k - times["restic"]
            time_ok = time_ok or slack <= METADATA_SLACK
            verdicts.append(f"{slack:+.2f}s vs restic")
        verdicts.append("time ok" if time_ok else "time MISS")
    mem_ratio = _ratio(peaks["keyark"], peaks["restic"])
    if mem_ratio is not None:
        verdicts.append("mem ok" if mem_ratio <= MEMORY_TARGET else "mem MISS")
    reference: float | None = None
    reference_ratio: float | None = None
    if op in REFERENCE_TARGETS:
        ref_op, limit = REFERENCE_TARGETS[op]
        reference = figures.seconds(corpus, REFERENCE, cache, ref_op)
        reference_ratio = _ratio(k, reference)
        if reference_ratio is not None:
            label = OP_LABELS[ref_op].split(" (")[0]
            verdict = "ok" if reference_ratio <= limit else "MISS"
            verdicts.append(f"{reference_ratio:.2f}x {label} {verdict}")
    return {
        "corpus": corpus,
        "operation": OP_LABELS[op],
        "op": op,
        "cache": cache,
        "seconds": times,
        "peak_mib": peaks,
        "keyark/restic": _ratio(k, times["restic"]),
        "keyark/borg": _ratio(k, times["borg"]),
        "keyark/min": k_min,
        "memory keyark/restic": mem_ratio,
        "reference_seconds": reference,
        "keyark/reference": reference_ratio,
        "load": max(
            (x for t in TOOLS if (x := figures.load(corpus, t, cache, op)) is not None),
            default=None,
        ),
        "verdict": ", ".join(verdicts),
        "missed": any("MISS" in v or v == "FAILED" for v in verdicts),
    }


def size_rows(results: list[RunResult], corpora: list[str]) -> list[dict[str, object]]:
    """Repository size after the last backup per corpus, with keyark / restic."""
    figures = Figures(results)
    rows: list[dict[str, object]] = []
    for corpus in corpora:
        sizes = {t: figures.repo_mib(corpus, t) for t in TOOLS}
        ratio = _ratio(sizes["keyark"], sizes["restic"])
        rows.append(
            {
                "corpus": corpus,
                "repo_mib": sizes,
                "keyark/restic": ratio,
                "verdict": "-" if ratio is None else ("ok" if ratio <= SIZE_TARGET else "MISS"),
            }
        )
    return rows


def results_from_json(document: dict[str, Any]) -> list[RunResult]:
    """The runs of a compare.py ``--json`` document, to render its table again."""
    return [
        RunResult(
            corpus=run["corpus"],
            tool=run["tool"],
            cache=run.get("cache", "cold"),
            measurements=[Measurement(**m) for m in run["measurements"]],
            repo_bytes=run["repo_bytes"],
            restore_ok=run["restore_ok"],
            restore_problems=run["restore_problems"] or [],
            error=run["error"],
        )
        for run in document["runs"]
    ]


def _fmt(value: object, digits: int) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _markdown(headers: list[str], table: list[list[str]], numeric: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    separator = "|" + "|".join(
        "-" * (w + 1) + ":" if i in numeric else "-" * (w + 2) for i, w in enumerate(widths)
    )
    return "\n".join([line(headers), separator + "|", *(line(r) for r in table)])


def render_table(rows: list[dict[str, object]]) -> str:
    """The main table, Markdown, MISS verdicts in bold."""
    headers = [
        "corpus", "operation", "cache", "keyark s", "restic s", "borg s", "k/min(r,b)",
        "peak MiB k", "r", "b", "mem k/r", "ref s", "load", "targets",
    ]  # fmt: skip
    table: list[list[str]] = []
    for row in rows:
        seconds: dict[str, float | None] = row["seconds"]  # type: ignore[assignment]
        peaks: dict[str, float | None] = row["peak_mib"]  # type: ignore[assignment]
        verdict = str(row["verdict"])
        table.append(
            [
                str(row["corpus"]),
                str(row["operation"]),
                str(row["cache"]),
                *(_fmt(seconds[t], 2) for t in TOOLS),
                _fmt(row["keyark/min"], 2),
                *(_fmt(peaks[t], 0) for t in TOOLS),
                _fmt(row["memory keyark/restic"], 2),
                _fmt(row["reference_seconds"], 2),
                _fmt(row["load"], 2),
                verdict.replace("MISS", "**MISS**"),
            ]
        )
    return _markdown(headers, table, set(range(3, 13)))


def render_sizes(rows: list[dict[str, object]]) -> str:
    """Repository sizes, Markdown."""
    headers = ["corpus", "repo MiB keyark", "restic", "borg", "k/restic", "target"]
    table = []
    for row in rows:
        sizes: dict[str, float | None] = row["repo_mib"]  # type: ignore[assignment]
        verdict = str(row["verdict"])
        table.append(
            [
                str(row["corpus"]),
                *(_fmt(sizes[t], 1) for t in TOOLS),
                _fmt(row["keyark/restic"], 2),
                f"<= {SIZE_TARGET} " + ("**MISS**" if verdict == "MISS" else verdict),
            ]
        )
    return _markdown(headers, table, {1, 2, 3, 4})
