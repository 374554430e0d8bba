"""What recording the key and certificate inventory costs a backup (issue 13, section 3).

Backs up the ``small`` corpus (20,000 key-like files: every one a candidate, the worst
case) into a fresh repository, with the inventory and with ``--no-inventory``, in turn
(A B A B ...), and prints each side's median wall time and the median of the per-pair
ratios. The target: at most 5% more time with the inventory. It also prints each
side's CPU seconds (user+sys of the backup and its recognition worker, which the
backup reaps): on shared cores the wall time follows the machine's load, the CPU
time much less.

    python benchmarks/inventory.py [--rounds 5] [--work benchmarks/work] [--keyark CMD]
                                   [--scratch /dev/shm]

``--keyark`` is the command that runs keyark (default ``keyark``), split as a shell
splits words. A backup that fails stops the benchmark with its exit status and the
last lines it printed on standard error.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import ensure_corpus


def _run(command: list[str], env: dict[str, str]) -> None:
    """Run ``command``; on failure, exit with its status and the end of its stderr."""
    done = subprocess.run(command, check=False, env=env, capture_output=True)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-20:]
        print(f"{shlex.join(command)} exited with status {done.returncode}:", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
        sys.exit(2)


def _backup(keyark: list[str], source: Path, scratch: Path, *flags: str) -> tuple[float, float]:
    """Seconds one backup of ``source`` takes into a fresh repository: wall, and CPU
    (user+sys of the backup and of the children it reaped)."""
    repo = scratch / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(scratch / "cache", ignore_errors=True)
    # A fresh state directory too: the audit log keeps records per repository URL,
    # and every round makes a new repository at the same path.
    shutil.rmtree(scratch / "state", ignore_errors=True)
    env = dict(
        os.environ,
        KEYARK_REPOSITORY=str(repo),
        KEYARK_PASSWORD="benchmark",
        KEYARK_CACHE_DIR=str(scratch / "cache"),
        KEYARK_TEST_FAST_KDF="1",
        KEYARK_STATE_DIR=str(scratch / "state"),
    )
    _run([*keyark, "init"], env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    _run([*keyark, "backup", str(source), *flags], env)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    """Run the pairs and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work")
    parser.add_argument("--keyark", default="keyark", help="the command that runs keyark")
    parser.add_argument(
        "--scratch",
        type=Path,
        help="where the repositories go (default: the system's temp "
        "directory; a tmpfs such as /dev/shm keeps disk write-back out of the figures)",
    )
    args = parser.parse_args()
    keyark = shlex.split(args.keyark)
    corpus = ensure_corpus("small", args.work, big_size_mib=0, log=print)
    with tempfile.TemporaryDirectory(prefix="keyark-inventory-bench-", dir=args.scratch) as scratch:
        _backup(keyark, corpus.root, Path(scratch))  # warm-up (page cache, imports)
        on: list[float] = []
        off: list[float] = []
        cpu_on: list[float] = []
        cpu_off: list[float] = []
        for _round in range(args.rounds):
            wall, cpu = _backup(keyark, corpus.root, Path(scratch))
            on.append(wall)
            cpu_on.append(cpu)
            wall, cpu = _backup(keyark, corpus.root, Path(scratch), "--no-inventory")
            off.append(wall)
            cpu_off.append(cpu)
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    cpu_ratios = [a / b for a, b in zip(cpu_on, cpu_off, strict=True)]
    print(f"corpus small: {corpus.root}  (load average {os.getloadavg()[0]:.1f})")
    print(f"inventory on : median {statistics.median(on):.3f}s  runs {on}")
    print(f"inventory off: median {statistics.median(off):.3f}s  runs {off}")
    print(f"overhead (median of pair ratios): {100 * (statistics.median(ratios) - 1):+.1f}%")
    print(
        f"CPU seconds: on median {statistics.median(cpu_on):.2f}s, off median "
        f"{statistics.median(cpu_off):.2f}s, overhead (median of pair ratios) "
        f"{100 * (statistics.median(cpu_ratios) - 1):+.1f}%"
    )


if __name__ == "__main__":
    main()
