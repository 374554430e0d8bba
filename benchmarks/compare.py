"""Compare keyark with restic and borg on three corpora.

Usage (as root, so restic/borg can be installed from Debian packages when missing and
the page cache can be dropped)::

    .venv/bin/python benchmarks/compare.py [--corpora small,stdlib,big]
        [--tools keyark,restic,borg] [--big-size-mib 256] [--work DIR] [--json out.json]

For every corpus and tool, in a fresh repository with fresh cache directories: ``init``,
backup #1, backup #2 (nothing changed), restore of the latest snapshot into an empty
directory (then checked against the source tree's content manifest, outside the timing),
and a full check that reads all data. See benchmarks/README.md for how things are measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import CORPORA, MIB, Corpus, compare_manifests, ensure_corpus, tree_manifest
from tools import (
    TOOLS,
    PinnedKeyark,
    Tool,
    borg_major,
    ensure_installed,
    find_executable,
    pin_keyark,
    tool_version,
)

OPERATIONS = ("backup1", "backup2", "restore", "check")
OP_LABELS = {
    "init": "init",
    "backup1": "backup #1",
    "backup2": "backup #2 (no change)",
    "restore": "restore",
    "check": "check (read all data)",
}
TIME_TARGET = 1.0  # keyark time / min(restic, borg)
MEMORY_TARGET = 1.5  # keyark peak RSS / restic's
SIZE_TARGET = 1.05  # keyark repository size / restic's


@dataclass
class Measurement:
    corpus: str
    tool: str
    op: str
    seconds: float
    max_rss_kib: int
    user_seconds: float
    system_seconds: float
    returncode: int
    log: str
    cache_dropped: bool
    load_average: float  # 1-minute load average just before the operation
    repeat: int = 1


@dataclass
class RunResult:
    corpus: str
    tool: str
    measurements: list[Measurement]
    repo_bytes: int | None = None
    restore_ok: bool | None = None
    restore_problems: list[str] | None = None
    error: str | None = None


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


# ----------------------------------------------------------------------------- measuring
class CacheDropper:
    """Drop the page cache before each measured operation when the kernel lets us."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.note = "disabled by --no-drop-caches" if not enabled else ""

    def __call__(self) -> bool:
        if not self.enabled:
            return False
        os.sync()
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError as error:
            self.enabled = False
            self.note = f"not possible ({error.strerror}); caches were warm"
            log(f"cannot drop the page cache: {error.strerror}; continuing with a warm cache")
            return False
        self.note = "sync; echo 3 > /proc/sys/vm/drop_caches before every measured operation"
        return True


def run_measured(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path | None,
    log_path: Path,
    corpus: str,
    tool: str,
    op: str,
    drop: CacheDropper,
) -> Measurement:
    """Run ARGV; wall time via perf_counter, peak RSS and CPU via os.wait4's rusage.

    ``ru_maxrss`` from wait4 is the largest resident set of the child or of any of its
    descendants it waited for (not their sum); all three tools are single-process.
    """
    dropped = drop()
    load = os.getloadavg()[0]
    with log_path.open("ab") as out:
        out.write(f"$ {shlex.join(argv)}  (cwd={cwd or os.getcwd()})\n".encode())
        out.flush()
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.write(f"# exit {process.returncode} in {seconds:.2f}s\n\n".encode())
    return Measurement(
        corpus=corpus,
        tool=tool,
        op=op,
        seconds=seconds,
        max_rss_kib=usage.ru_maxrss,
        user_seconds=usage.ru_utime,
        system_seconds=usage.ru_stime,
        returncode=process.returncode,
        log=str(log_path),
        cache_dropped=dropped,
        load_average=load,
    )


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def log_tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join("    " + line for line in text[-lines:])


# ----------------------------------------------------------------------------- one run
def run_tool(
    tool_name: str,
    exe: str | PinnedKeyark,
    version: str,
    corpus: Corpus,
    work: Path,
    drop: CacheDropper,
    repeat: int = 1,
) -> RunResult:
    base = work / "runs" / corpus.name / tool_name
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    tool = Tool(
        name=tool_name,
        exe=exe.argv if isinstance(exe, PinnedKeyark) else exe,
        repo=base / "repo",
        state=base / "state",
        version=version,
        borg_major=borg_major(version) if tool_name == "borg" else 1,
        extra_env=exe.env if isinstance(exe, PinnedKeyark) else {},
    )
    tool.setup_env()
    target = base / "restore"
    target.mkdir()
    log_path = base / "log.txt"
    result = RunResult(corpus=corpus.name, tool=tool_name, measurements=[])
    steps = [
        ("init", tool.init()),
        ("backup1", tool.backup(corpus.root, 1)),
        ("backup2", tool.backup(corpus.root, 2)),
        ("restore", tool.restore(target, 2)),
        ("check", tool.check()),
    ]
    for op, (argv, cwd) in steps:
        m = run_measured(
            argv,
            env=tool.env,
            cwd=cwd,
            log_path=log_path,
            corpus=corpus.name,
            tool=tool_name,
            op=op,
            drop=drop,
        )
        m.repeat = repeat
        result.measurements.append(m)
        status = "ok" if m.returncode == 0 else f"FAILED (exit {m.returncode})"
        log(
            f"  {tool_name:6} {OP_LABELS[op]:22} {m.seconds:8.2f}s "
            f"{m.max_rss_kib / 1024:8.1f} MiB  {status}"
        )
        if m.returncode != 0:
            result.error = f"{op} exited {m.returncode}; see {log_path}"
            print(log_tail(log_path), flush=True)
            if op in ("init", "backup1"):
                break
        if op == "backup2":
            result.repo_bytes = tree_bytes(tool.repo)
        if op == "restore" and m.returncode == 0:
            restored = target / corpus.root.resolve().relative_to("/")
            problems = (
                compare_manifests(corpus.manifest, tree_manifest(restored))
                if restored.is_dir()
                else [f"{restored} was not restored"]
            )
            result.restore_ok = not problems
            result.restore_problems = problems
            if problems:
                log(f"  {tool_name} restore differs from the source: {'; '.join(problems)}")
            shutil.rmtree(target)
    return result


# ----------------------------------------------------------------------------- report
def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def build_rows(results: list[RunResult], corpora: list[str]) -> list[dict[str, object]]:
    """One row per corpus x operation x metric, plus one per corpus for repository size."""
    by_key: dict[tuple[str, str], list[RunResult]] = {}
    for result in results:
        by_key.setdefault((result.corpus, result.tool), []).append(result)

    def value(corpus: str, tool: str, op: str, metric: str) -> float | None:
        # With --repeat: the fastest time, the largest peak memory and repository size.
        runs = by_key.get((corpus, tool), [])
        if metric == "size":
            sizes = [r.repo_bytes / MIB for r in runs if r.repo_bytes is not None]
            return max(sizes) if sizes else None
        found = [m for r in runs for m in r.measurements if m.op == op and m.returncode == 0]
        if len(found) < len(runs) or not found:
            return None  # failed at least once
        if metric == "time":
            return min(m.seconds for m in found)
        return max(m.max_rss_kib for m in found) / 1024

    rows: list[dict[str, object]] = []
    for corpus in corpora:
        specs = [(op, metric) for op in OPERATIONS for metric in ("time", "memory")]
        specs.append(("repo size", "size"))
        for op, metric in specs:
            k, r, b = (value(corpus, t, op, metric) for t in TOOLS)
            others = [x for x in (r, b) if x is not None]
            k_r, k_b = _ratio(k, r), _ratio(k, b)
            k_min = _ratio(k, min(others)) if others else None
            if metric == "time":
                target, check = f"k/min <= {TIME_TARGET}", k_min
                limit = TIME_TARGET
            elif metric == "memory":
                target, check, limit = f"k/restic <= {MEMORY_TARGET}", k_r, MEMORY_TARGET
            else:
                target, check, limit = f"k/restic <= {SIZE_TARGET}", k_r, SIZE_TARGET
            if k is None:
                verdict = "FAILED" if (corpus, "keyark") in by_key else "-"
            elif check is None:
                verdict = "n/a"
            else:
                verdict = "ok" if check <= limit else "MISS"
            rows.append(
                {
                    "corpus": corpus,
                    "operation": OP_LABELS.get(op, op),
                    "metric": {"time": "time s", "memory": "peak MiB", "size": "MiB"}[metric],
                    "keyark": k,
                    "restic": r,
                    "borg": b,
                    "keyark/restic": k_r,
                    "keyark/borg": k_b,
                    "keyark/min": k_min,
                    "target": target,
                    "verdict": verdict,
                }
            )
    return rows


def render_table(rows: list[dict[str, object]]) -> str:
    headers = [
        "corpus", "operation", "metric", "keyark", "restic", "borg",
        "k/restic", "k/borg", "k/min(r,b)", "target", "",
    ]  # fmt: skip
    table: list[list[str]] = []
    for row in rows:
        digits = 2 if row["metric"] == "time s" else 1
        cells = [str(row["corpus"]), str(row["operation"]), str(row["metric"])]
        cells += [_fmt(row[t], digits) for t in TOOLS]  # type: ignore[arg-type]
        cells += [
            _fmt(row[c], 2)  # type: ignore[arg-type]
            for c in ("keyark/restic", "keyark/borg", "keyark/min")
        ]
        verdict = str(row["verdict"])
        cells += [str(row["target"]), "**MISS**" if verdict == "MISS" else verdict]
        table.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    numeric = set(range(3, 9))

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


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_work = Path(__file__).resolve().parent / "work"
    parser.add_argument("--work", type=Path, default=default_work, help="work directory")
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated")
    parser.add_argument("--big-size-mib", type=int, default=256, help="size of each big file")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--no-drop-caches", action="store_true", help="keep the page cache between steps"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install missing tools"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep repositories under WORK/runs afterwards"
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="run the installed keyark as is (default: run a copy of its source taken at start)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every corpus/tool sequence N times; report the fastest time",
    )
    args = parser.parse_args(argv)
    args.corpora = [c for c in args.corpora.split(",") if c]
    args.tools = [t for t in args.tools.split(",") if t]
    for name, allowed in (("corpora", CORPORA), ("tools", TOOLS)):
        unknown = set(getattr(args, name)) - set(allowed)
        if unknown:
            parser.error(f"unknown {name}: {', '.join(sorted(unknown))}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.big_size_mib < 1:
        parser.error("--big-size-mib must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_installed(args.tools, allow_install=not args.no_install)
    executables: dict[str, str | PinnedKeyark] = {}
    versions: dict[str, str] = {}
    pinned_from = ""
    git_at_start = git_state()
    for name in args.tools:
        exe = find_executable(name)
        if exe is None:
            raise SystemExit(f"cannot find {name}")
        executables[name] = exe
        versions[name] = tool_version(name, exe)
        log(f"{name}: {exe} ({versions[name]})")
        if name == "keyark" and not args.no_pin:
            pinned = pin_keyark(exe, work / "keyark-pinned")
            executables[name] = pinned
            pinned_from = pinned.source
            log(f"keyark: running a copy of {pinned.source} taken now ({work / 'keyark-pinned'})")
    drop = CacheDropper(enabled=not args.no_drop_caches)

    corpora: dict[str, Corpus] = {}
    for name in args.corpora:
        corpus = ensure_corpus(name, work, big_size_mib=args.big_size_mib, log=log)
        corpora[name] = corpus
        log(f"corpus {name}: {corpus.files} files, {corpus.bytes / MIB:.1f} MiB")

    results: list[RunResult] = []
    for name, corpus in corpora.items():
        for repeat in range(1, args.repeat + 1):
            for tool_name in args.tools:
                log(f"{name} / {tool_name}" + (f" (run {repeat})" if args.repeat > 1 else ""))
                result = run_tool(
                    tool_name,
                    executables[tool_name],
                    versions[tool_name],
                    corpus,
                    work,
                    drop,
                    repeat,
                )
                results.append(result)
                if not args.keep:
                    shutil.rmtree(work / "runs" / name / tool_name)

    rows = build_rows(results, args.corpora)
    total = time.perf_counter() - started
    print()
    print(render_table(rows))
    print()
    print(
        "keyark/min(r,b) compares with the faster of restic and borg. Targets: time "
        f"k/min <= {TIME_TARGET}, peak memory k/restic <= {MEMORY_TARGET}, "
        f"repository size k/restic <= {SIZE_TARGET}."
    )
    print(f"Page cache: {drop.note}.")
    if pinned_from:
        dirty = len(git_at_start["status"].splitlines())
        print(
            f"keyark: source copied at start from {pinned_from} "
            f"(git {git_at_start['head'][:10]}, {dirty} modified files under src/)"
        )
    loads = [m.load_average for r in results for m in r.measurements]
    if loads:
        print(
            f"1-min load average before operations: {min(loads):.2f}..{max(loads):.2f} "
            f"on {os.cpu_count()} CPUs"
            + (f"; {args.repeat} runs each, fastest shown" if args.repeat > 1 else "")
        )
    for name in args.tools:
        print(f"{name}: {versions[name]}")
    for result in results:
        if result.error:
            print(f"ERROR {result.corpus}/{result.tool}: {result.error}")
        if result.restore_ok is False:
            problems = "; ".join(result.restore_problems or [])
            print(f"RESTORE MISMATCH {result.corpus}/{result.tool}: {problems}")
    print(f"Total benchmark time: {total:.0f}s")

    if args.json:
        document = {
            "command": shlex.join([sys.executable, *sys.argv]),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "total_seconds": total,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "page_cache": drop.note,
            "repeat": args.repeat,
            "git_at_start": git_at_start,
            "keyark_pinned_from": pinned_from or None,
            "versions": versions,
            "corpora": {
                n: {"root": str(c.root), "files": c.files, "bytes": c.bytes}
                for n, c in corpora.items()
            },
            "runs": [
                {
                    "corpus": r.corpus,
                    "tool": r.tool,
                    "repo_bytes": r.repo_bytes,
                    "restore_ok": r.restore_ok,
                    "restore_problems": r.restore_problems,
                    "error": r.error,
                    "measurements": [asdict(m) for m in r.measurements],
                }
                for r in results
            ],
            "rows": rows,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        log(f"wrote {args.json}")
    failed = any(r.error or r.restore_ok is False for r in results)
    return 1 if failed else 0


def git_state() -> dict[str, str]:
    """HEAD and the files modified in the work tree (keyark is installed editable)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    return {"head": git("rev-parse", "HEAD"), "status": git("status", "--short", "src")}


if __name__ == "__main__":
    raise SystemExit(main())
