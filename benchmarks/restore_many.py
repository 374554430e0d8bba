"""Restore of many small files: keyark vs restic vs ``tar -x`` on the ``many`` corpus.

Generates (once) ``generate_many(files)`` under ``WORK/corpora/many-<files>``, backs it
up once with keyark and restic (kept in ``WORK/many-<files>/``), writes a tar of it,
then measures ``restore`` of each tool and ``tar -x`` into a fresh target, ``--repeat``
times, interleaved, and prints wall time, peak RSS, user+system CPU and the load
average before each run. The restored trees are compared with the source (size and
content of every file) outside the timing.

```sh
.venv/bin/python benchmarks/restore_many.py --files 50000 --repeat 2
.venv/bin/python benchmarks/restore_many.py --files 50000 --tools keyark --profile py-spy
```

``--profile py-spy`` records the keyark restore with py-spy (``--threads --idle``, raw
format, summarised by ``profile_summary.py``); ``--profile strace`` counts its system
calls (``strace -c -f``). Either profile run is not part of the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import compare_manifests, generate_many, tree_manifest

PASSWORD = "benchmark-passphrase-not-secret"  # throwaway repositories
SEED = 20261202
HERE = Path(__file__).resolve().parent
PYSPY = "/tmp/pyspy/bin/py-spy"


@dataclass
class Run:
    """One measured restore."""

    tool: str
    seconds: float
    peak_mib: float
    user_s: float
    sys_s: float
    load: float
    returncode: int


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def environment(tool: str, state: Path) -> dict[str, str]:
    """The tool's environment: its repository, passphrase and a private cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYARK_", "RESTIC_"))}
    if tool == "keyark-old":
        tool = "keyark"
        env["PYTHONPATH"] = OLD_SOURCE[0]
    env["HOME"] = str(state / "home")
    (state / "home").mkdir(parents=True, exist_ok=True)
    prefix = "KEYARK" if tool == "keyark" else "RESTIC"
    env[f"{prefix}_REPOSITORY"] = str(state / "repo")
    env[f"{prefix}_PASSWORD"] = PASSWORD
    env[f"{prefix}_CACHE_DIR"] = str(state / "cache")
    if tool == "keyark":
        env["KEYARK_STATE_DIR"] = str(state / "keyark-state")
    return env


#: ``--old-source DIR``: the ``keyark-old`` tool runs keyark from DIR (e.g. a ``git archive``
#: of an earlier commit's ``src``) on keyark's repository.
OLD_SOURCE: list[str] = []


def argv0(tool: str) -> list[str]:
    """How to start ``tool`` (``keyark-old``: the interpreter on ``OLD_SOURCE``)."""
    if tool == "keyark-old":
        runner = "import sys; from keyark.cli.main import run; sys.argv[0] = 'keyark'; run()"
        return [sys.executable, "-c", runner]
    return [executable(tool)]


def executable(tool: str) -> str:
    if tool == "keyark":
        local = Path(sys.executable).parent / "keyark"
        return str(local) if local.exists() else "keyark"
    return tool


def prepare(work: Path, files: int, tools: list[str]) -> tuple[Path, Path]:
    """The corpus (generated once) and its tar; each tool's repository backed up once."""
    corpus = work / "corpora" / f"many-{files}"
    stamp = corpus.with_suffix(".json")
    if not stamp.exists():
        if corpus.exists():
            shutil.rmtree(corpus)
        log(f"generating {files} files in {corpus}")
        generate_many(corpus, files, SEED)
        stamp.write_text(json.dumps({"files": files, "seed": SEED}))
    tar = work / "corpora" / f"many-{files}.tar"
    if not tar.exists():
        subprocess.run(["tar", "-cf", str(tar), "-C", str(corpus), "."], check=True)
    for tool in tools:
        if tool in ("tar", "keyark-old"):
            continue
        state = work / f"many-{files}" / tool
        if (state / "done").exists():
            continue
        if state.exists():
            shutil.rmtree(state)
        state.mkdir(parents=True)
        env = environment(tool, state)
        log(f"{tool}: init + backup")
        exe = executable(tool)
        subprocess.run([exe, "init"], env=env, check=True, capture_output=True)
        subprocess.run([exe, "backup", str(corpus)], env=env, check=True, capture_output=True)
        (state / "done").write_text("")
    return corpus, tar


def command(tool: str, corpus: Path, tar: Path, target: Path) -> list[str]:
    if tool == "tar":
        return ["tar", "-xf", str(tar), "-C", str(target)]
    # restic and keyark put the snapshot's absolute path below the target.
    return [*argv0(tool), "restore", "latest", "--target", str(target)]


def restored_root(tool: str, corpus: Path, target: Path) -> Path:
    return target if tool == "tar" else target / corpus.relative_to("/")


def measure(argv: list[str], env: dict[str, str], tool: str, drop: bool) -> Run:
    """Run ``argv``: wall time, and peak RSS + CPU from ``wait4``'s rusage."""
    if drop:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code and process.stderr is not None:
        sys.stderr.write(process.stderr.read().decode(errors="replace")[-2000:])
    return Run(tool, seconds, usage.ru_maxrss / 1024, usage.ru_utime, usage.ru_stime, load, code)


def profile(kind: str, work: Path, files: int, corpus: Path, tar: Path, out: Path) -> None:
    """Record one keyark restore with py-spy or strace (not timed)."""
    state = work / f"many-{files}" / "keyark"
    target = work / f"many-{files}" / "target-profile"
    shutil.rmtree(target, ignore_errors=True)
    argv = command("keyark", corpus, tar, target)
    env = environment("keyark", state)
    if kind == "py-spy":
        raw = out.with_suffix(".pyspy.txt")
        prefix = [PYSPY, "record", "--threads", "--idle", "--format", "raw", "-o", str(raw), "--"]
        subprocess.run([*prefix, *argv], env=env, check=True)
        summary = subprocess.run(
            [sys.executable, str(HERE / "profile_summary.py"), str(raw)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        out.write_text(summary)
    else:
        subprocess.run(["strace", "-c", "-f", "-o", str(out), *argv], env=env, check=True)
    shutil.rmtree(target, ignore_errors=True)
    log(f"{kind} profile in {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--tools", default="keyark,restic,tar")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--drop-caches", action="store_true", help="before every run (root)")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--profile", choices=("py-spy", "strace"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--old-source", type=Path, help="keyark-old runs keyark from this src/")
    args = parser.parse_args(argv)
    if args.old_source:
        OLD_SOURCE.append(str(args.old_source.resolve()))
    tools = args.tools.split(",")
    work: Path = args.work.resolve()
    corpus, tar = prepare(work, args.files, tools)
    if args.profile:
        out = work / f"many-{args.files}" / f"profile-{args.profile}.txt"
        profile(args.profile, work, args.files, corpus, tar, out)
        print(out.read_text())
        return 0
    expected = None if args.no_verify else tree_manifest(corpus)
    runs: list[Run] = []
    failed = False
    for _ in range(args.repeat):
        for tool in tools:
            target = work / f"many-{args.files}" / f"target-{tool}"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            state = work / f"many-{args.files}" / tool.removesuffix("-old")
            env = environment(tool, state)
            run = measure(command(tool, corpus, tar, target), env, tool, args.drop_caches)
            runs.append(run)
            log(
                f"{tool:7} {run.seconds:7.2f} s  peak {run.peak_mib:6.1f} MiB  "
                f"user {run.user_s:6.2f} s  sys {run.sys_s:6.2f} s  load {run.load:.2f}"
                + (f"  EXIT {run.returncode}" if run.returncode else "")
            )
            if expected is not None:
                problems = compare_manifests(
                    expected, tree_manifest(restored_root(tool, corpus, target))
                )
                if problems:
                    failed = True
                    log(f"{tool}: restored tree differs: {'; '.join(problems)}")
            shutil.rmtree(target, ignore_errors=True)
            failed = failed or bool(run.returncode)
    best = {t: min((r for r in runs if r.tool == t), key=lambda r: r.seconds) for t in tools}
    print(f"\nrestore of {args.files} files in {args.files // 10} dirs (best of {args.repeat}):")
    for tool, run in best.items():
        print(
            f"  {tool:7} {run.seconds:7.2f} s  peak {run.peak_mib:6.1f} MiB  "
            f"user+sys {run.user_s + run.sys_s:6.2f} s  load {run.load:.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
