"""Summarise a py-spy ``--format raw`` (collapsed stacks) profile.

Usage: ``python benchmarks/profile_summary.py PROFILE.txt [--top N]``

Prints the functions with the most self samples and the most inclusive samples (a
function counted once per stack it appears in), as a share of all non-idle samples
(py-spy records every thread; with ``--threads`` the first frame names the thread).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``; other frames unchanged."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    file = match.group("file")
    short = "/".join(file.split("/")[-2:]) if "keyark" in file else file.split("/")[-1]
    return f"{match.group('func')} ({short})"


def summarise(path: Path, top: int) -> str:
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        count = int(match.group("count"))
        frames = match.group("stack").split(";")
        if frames and frames[0].startswith(("thread", "process")):
            thread = frames[0]
            frames = frames[1:]
            while frames and frames[0].startswith(("thread", "process")):
                thread = frames[0]
                frames = frames[1:]
            threads[re.sub(r"\s*\(0x[0-9a-f]+\)", "", thread)] += count
        if not frames:
            continue
        total += count
        names = [frame_name(f) for f in frames]
        self_samples[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    out = [f"{path}: {total} samples"]
    if threads:
        out.append(
            "threads: "
            + ", ".join(f"{t} {100 * c / total:.0f}%" for t, c in threads.most_common(6))
        )
    out.append(f"\ntop {top} by self time:")
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in self_samples.most_common(top)]
    out.append(f"\ntop {top} by inclusive time:")
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarise(args.profile, args.top))


if __name__ == "__main__":
    main()
