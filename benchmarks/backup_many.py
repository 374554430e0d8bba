"""Incremental backups of many small files: keyark vs restic (issue 19).

Usage::

    .venv/bin/python benchmarks/backup_many.py [--files 50000]
        [--tools keyark,restic] [--work DIR] [--drop-caches] [--json out.json]
        [--keep] [--no-inventory]

Generates (once, deterministically) a tree of ``--files`` small files in
``--files / 10`` directories (``corpora.generate_many``), then for each tool in a
fresh repository: ``init``, backup #1, backup #2 (nothing changed), backup #3 after
1% of the files changed (``--baseline SRC`` adds keyark run from another source
directory, e.g. ``git archive HEAD src/keyark`` unpacked). It also times
``find TREE -printf '%s %T@\\n'`` (the cost of stat-ing every file, the floor of a
backup with no change). Wall time, peak RSS and user/system CPU come from ``os.wait4``
of each child; the 1-minute load average is printed before each operation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import generate_many
from tools import Tool, find_executable


@dataclass
class Run:
    """One measured command."""

    tool: str
    op: str
    seconds: float
    peak_mib: float
    user: float
    system: float
    load: float
    returncode: int


def ensure_tree(work: Path, files: int, seed: int = 19) -> Path:
    """The corpus (``files`` files in ``files / 10`` directories, see
    :func:`corpora.generate_many`), generated once and reused while its parameters match."""
    root = work / f"many-{files}-{files // 10}-{seed}"
    stamp = root / ".complete"
    if stamp.exists():
        return root / "tree"
    if root.exists():
        shutil.rmtree(root)
    tree = root / "tree"
    root.mkdir(parents=True)
    started = time.perf_counter()
    generate_many(tree, files, seed)
    stamp.write_text("")
    print(f"generated {files} files in {time.perf_counter() - started:.1f} s", flush=True)
    return tree


def change_one_percent(tree: Path, seed: int) -> int:
    """Append a line to every 100th file (sorted order, a seeded offset)."""
    paths = sorted(p for p in tree.rglob("*") if p.is_file())
    offset = random.Random(seed).randrange(100)
    changed = 0
    for path in paths[offset::100]:
        with path.open("a") as handle:
            handle.write(f"changed {seed}\n")
        changed += 1
    return changed


def drop_caches() -> None:
    """Drop the page cache (root only)."""
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def measure(tool: str, op: str, argv: list[str], env: dict[str, str] | None, *, drop: bool) -> Run:
    """Run ``argv`` and return its wall time, peak RSS and CPU times."""
    if drop:
        drop_caches()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if code != 0:
        print(f"{tool} {op} failed ({code}): {errors[-2000:]}", flush=True)
    run = Run(
        tool,
        op,
        seconds,
        usage.ru_maxrss / 1024,
        usage.ru_utime,
        usage.ru_stime,
        load,
        code,
    )
    print(
        f"{tool:7} {op:10} {seconds:7.2f} s  peak {run.peak_mib:6.1f} MiB  "
        f"user {run.user:6.2f}  sys {run.system:6.2f}  load {load:.2f}",
        flush=True,
    )
    return run


def _tool(name: str, base: Path, baseline: Path | None) -> Tool:
    """A fresh repository for tool ``name`` (``baseline``: keyark from another source)."""
    exe: str | list[str] | None = find_executable("keyark" if name == "baseline" else name)
    if exe is None:
        raise SystemExit(f"{name} not found")
    extra: dict[str, str] = {}
    if name == "baseline":
        assert baseline is not None
        runner = "import sys; from keyark.cli.main import run; sys.exit(run())"
        exe, extra = [sys.executable, "-c", runner], {"PYTHONPATH": str(baseline)}
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    tool = Tool("keyark" if name == "baseline" else name, exe, base / "repo", base / "state")
    tool.extra_env = extra
    tool.setup_env()
    return tool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--tools", default="keyark,restic")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "many")
    parser.add_argument("--drop-caches", action="store_true")
    parser.add_argument("--no-inventory", action="store_true", help="keyark backup --no-inventory")
    parser.add_argument("--keep", action="store_true", help="keep the repositories")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run keyark from this source directory (holding keyark/) as 'baseline'",
    )
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    tree = ensure_tree(args.work, args.files)
    runs: list[Run] = []
    find = ["find", str(tree), "-printf", "%s %T@\n"]
    runs.append(measure("find", "printf", find, None, drop=args.drop_caches))
    names = args.tools.split(",") + (["baseline"] if args.baseline else [])
    for step, name in enumerate(names):
        tool = _tool(name, args.work / "runs" / name, args.baseline)
        init = measure(name, "init", tool.init()[0], tool.env, drop=False)
        if init.returncode != 0:
            return 1
        backup = tool.backup(tree, 1)[0]
        if name in ("keyark", "baseline") and args.no_inventory:
            backup = [*backup, "--no-inventory"]
        for op in ("backup1", "backup2"):
            runs.append(measure(name, op, backup, tool.env, drop=args.drop_caches))
        # Each tool sees the same change: the tree is changed, backed up, then restored
        # to its earlier content by changing again (the other tool sees another 1%).
        changed = change_one_percent(tree, seed=1000 + step)
        print(f"changed {changed} files", flush=True)
        runs.append(measure(name, "backup3-1%", backup, tool.env, drop=args.drop_caches))
        if not args.keep:
            shutil.rmtree(tool.repo.parent)
    if args.json:
        args.json.write_text(json.dumps([asdict(run) for run in runs], indent=2))
    return 0 if all(run.returncode == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
