"""Compare keyark with restic and borg on real and generated corpora (issue 19).

Usage (as root, so borg can be installed from Debian packages when missing and the
page cache can be dropped)::

    .venv/bin/python benchmarks/compare.py                # full run (hours; a quiet machine)
    .venv/bin/python benchmarks/compare.py --quick        # validation run (minutes)
    .venv/bin/python benchmarks/compare.py --corpora source,many --tools keyark,restic

For every corpus, cache state (cold: page cache dropped before each operation; warm)
and tool, in a fresh repository: init, first backup, backup with no change, backup
after 1% of files changed, restore (checked against the source, outside the timing),
``check --read-data``, ``snapshots``, ``ls``, ``find`` and start-up; plus the references
``find -printf`` and ``tar -x``. See benchmarks/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from changes import ChangeSet
from corpora import CORPORA, MIB, Corpus, ensure_corpus
from measure import GNU_TIME, CacheDropper, log
from report import (
    MEMORY_TARGET,
    METADATA_SLACK,
    OPERATIONS,
    REFERENCE_TARGETS,
    SIZE_TARGET,
    TIME_TARGET,
    TOOLS,
    RunResult,
    build_rows,
    render_sizes,
    render_table,
    results_from_json,
    size_rows,
)
from sequence import CHANGE_SEED, CHANGED_FRACTION, make_tool, run_reference, run_tool
from tools import PinnedKeyark, ensure_installed, find_executable, pin_keyark, tool_version

DEFAULT_CORPORA = ("small", "big", "source", "many", "million")
#: The million-file tree is for memory: the long-running checks are left out there.
MILLION_OPS = ("backup1", "backup2", "backup3", "restore", "snapshots", "ls", "find")
#: --quick: small generated trees and the standard library as the real source tree.
QUICK = {"corpora": "stdlib,big,many,million", "many": 2_000, "million": 20_000, "big": 16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring and README.md)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    default_work = Path(__file__).resolve().parent / "work"
    add = parser.add_argument
    add("--work", type=Path, default=default_work, help="work directory")
    add("--corpora", default=",".join(DEFAULT_CORPORA), help=f"of {','.join(CORPORA)}")
    add("--tools", default=",".join(TOOLS), help="comma-separated")
    add("--ops", default=",".join(OPERATIONS), help="operations to measure, comma-separated")
    add("--cache", default="cold,warm", help="cold (page cache dropped), warm, or both")
    add("--big-size-mib", type=int, default=256, help="size of each big file")
    add("--many-files", type=int, default=200_000, help="files of the 'many' corpus")
    add("--million-files", type=int, default=1_000_000, help="files of the 'million' corpus")
    add("--skip-million", action="store_true", help="leave the million-file corpus out")
    add("--quick", action="store_true", help="small validation run (2k/20k files)")
    add("--json", type=Path, help="also write the results as JSON here")
    add("--no-drop-caches", action="store_true", help="never drop the page cache")
    add("--no-install", action="store_true", help="never apt-get install missing tools")
    add("--no-references", action="store_true", help="skip find -printf and tar -x")
    add("--keep", action="store_true", help="keep repositories under WORK/runs afterwards")
    add("--no-pin", action="store_true", help="run the installed keyark, not a copy")
    add("--repeat", type=int, default=1, help="run every sequence N times; fastest shown")
    add("--render", type=Path, help="only print the tables of an earlier --json result")
    args = parser.parse_args(argv)
    if args.quick:  # only the settings not given explicitly
        defaults = {
            "many_files": ("many", 200_000),
            "million_files": ("million", 1_000_000),
            "big_size_mib": ("big", 256),
            "corpora": ("corpora", ",".join(DEFAULT_CORPORA)),
        }
        for name, (key, default) in defaults.items():
            if getattr(args, name) == default:
                setattr(args, name, QUICK[key])
    lists = {"corpora": CORPORA, "tools": TOOLS, "ops": OPERATIONS, "cache": ("cold", "warm")}
    for name, allowed in lists.items():
        chosen = [x for x in getattr(args, name).split(",") if x]
        unknown = set(chosen) - set(allowed)
        if unknown:
            parser.error(f"unknown {name}: {', '.join(sorted(unknown))}")
        setattr(args, name, chosen)
    if set(args.ops) - {"version"} and "backup1" not in args.ops:
        parser.error("--ops: every operation but version needs backup1 (something to work on)")
    if args.skip_million and "million" in args.corpora:
        args.corpora.remove("million")
    if args.repeat < 1 or args.big_size_mib < 1 or min(args.many_files, args.million_files) < 10:
        parser.error("--repeat, --big-size-mib and the file counts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 when an operation failed or a restore differed."""
    args = parse_args(argv)
    if args.render:
        return render_saved(args.render)
    # SIGTERM unwinds like Ctrl-C, so the 1% change set is reverted (changes.py).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_installed(args.tools, allow_install=not args.no_install)
    if not os.access(GNU_TIME, os.X_OK):
        log(f"WARNING: no {GNU_TIME} (apt-get install time): peak RSS includes this script's")
    executables, versions, pinned_from = _executables(args, work)
    git_at_start = git_state()
    drop = CacheDropper(enabled=not args.no_drop_caches)
    files = {"many": args.many_files, "million": args.million_files}
    corpora: dict[str, Corpus] = {}
    for name in args.corpora:
        corpus = ensure_corpus(
            name, work, big_size_mib=args.big_size_mib, log=log, files=files.get(name)
        )
        corpora[name] = corpus
        ChangeSet(
            corpus.root, corpus.manifest, CHANGED_FRACTION, CHANGE_SEED
        )  # undo a killed run's
        log(f"corpus {name}: {corpus.files} files, {corpus.bytes / MIB:.1f} MiB ({corpus.root})")

    results: list[RunResult] = []
    for name, corpus in corpora.items():
        ops = tuple(o for o in args.ops if name != "million" or o in MILLION_OPS)
        caches = ["cold"] if name == "million" else args.cache
        for cache in caches:
            for repeat in range(1, args.repeat + 1):
                if not args.no_references:
                    log(f"{name} / references ({cache})")
                    results.append(
                        run_reference(corpus, work / "runs" / name / "reference", drop, cache=cache)
                    )
                for tool_name in args.tools:
                    log(
                        f"{name} / {tool_name} ({cache}"
                        + (f", run {repeat})" if args.repeat > 1 else ")")
                    )
                    base = work / "runs" / name / tool_name
                    tool = make_tool(tool_name, executables[tool_name], versions[tool_name], base)
                    results.append(
                        run_tool(tool, corpus, base, drop, cache=cache, ops=ops, repeat=repeat)
                    )
                    if not args.keep:
                        shutil.rmtree(base)

    rows = build_rows(results, args.corpora, args.cache)
    sizes = size_rows(results, args.corpora)
    total = time.perf_counter() - started
    print()
    print(render_table(rows))
    print()
    print(render_sizes(sizes))
    print()
    _footer(args, results, versions, drop, pinned_from, git_at_start, total)
    if args.json:
        document = _document(args, corpora, results, rows, sizes, versions, drop, total)
        document |= {"git_at_start": git_at_start, "keyark_pinned_from": pinned_from or None}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        log(f"wrote {args.json}")
    failed = any(r.error or r.restore_ok is False for r in results)
    return 1 if failed else 0


def render_saved(path: Path) -> int:
    """Print the tables of a saved --json result (with this version's report code)."""
    document = json.loads(path.read_text())
    results = results_from_json(document)
    corpora = list(document["corpora"])
    caches = [c for c in ("cold", "warm") if any(r.cache == c for r in results)]
    print(f"Command: {document['command']}")
    print()
    print(render_table(build_rows(results, corpora, caches)))
    print()
    print(render_sizes(size_rows(results, corpora)))
    return 0


def _executables(
    args: argparse.Namespace, work: Path
) -> tuple[dict[str, str | PinnedKeyark], dict[str, str], str]:
    executables: dict[str, str | PinnedKeyark] = {}
    versions: dict[str, str] = {}
    pinned_from = ""
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
    return executables, versions, pinned_from


def _footer(
    args: argparse.Namespace,
    results: list[RunResult],
    versions: dict[str, str],
    drop: CacheDropper,
    pinned_from: str,
    git_at_start: dict[str, str],
    total: float,
) -> None:
    references = ", ".join(
        f"{op} <= {limit} x {ref}" for op, (ref, limit) in REFERENCE_TARGETS.items()
    )
    print(
        f"Targets: time keyark <= {TIME_TARGET} x min(restic, borg), cold and warm "
        f"(snapshots/ls/find: or within {METADATA_SLACK} s of restic); peak memory "
        f"keyark <= {MEMORY_TARGET} x restic; {references}; repository size <= "
        f"{SIZE_TARGET} x restic."
    )
    print(f"Page cache (cold rows): {drop.note or 'no cold rows'}; warm rows: never dropped.")
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
            problems = "; ".join(result.restore_problems)
            print(f"RESTORE MISMATCH {result.corpus}/{result.tool}/{result.cache}: {problems}")
    print(f"Total benchmark time: {total:.0f}s")


def _document(
    args: argparse.Namespace,
    corpora: dict[str, Corpus],
    results: list[RunResult],
    rows: list[dict[str, object]],
    sizes: list[dict[str, object]],
    versions: dict[str, str],
    drop: CacheDropper,
    total: float,
) -> dict[str, object]:
    return {
        "command": shlex.join([sys.executable, *sys.argv]),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "total_seconds": total,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_kib": _mem_total_kib(),
        },
        "page_cache": drop.note,
        "repeat": args.repeat,
        "versions": versions,
        "corpora": {
            n: {"root": str(c.root), "files": c.files, "bytes": c.bytes} for n, c in corpora.items()
        },
        "runs": [
            {
                "corpus": r.corpus,
                "tool": r.tool,
                "cache": r.cache,
                "repo_bytes": r.repo_bytes,
                "restore_ok": r.restore_ok,
                "restore_problems": r.restore_problems,
                "error": r.error,
                "measurements": [asdict(m) for m in r.measurements],
            }
            for r in results
        ],
        "rows": rows,
        "repository_sizes": sizes,
    }


def _mem_total_kib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


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
