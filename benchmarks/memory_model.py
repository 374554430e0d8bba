"""keyark's memory model: RAM per blob in the index and per file of a parent tree.

Usage::

    .venv/bin/python benchmarks/memory_model.py [--counts 100000,1000000] [--json out.json]
        [--compare-json compare.json]

Each figure is measured in a fresh child process (so nothing else this script allocated
is counted), through keyark's own code:

* **index, per blob**: a real repository (``Repository.init`` on a local directory) holds
  synthetic index files written by ``PackStore.write_index`` (N data blobs, 1,000 per
  pack, 16 packs per index file as the packer writes them); the child opens it and runs
  ``repo.blobs.load_index()`` (read, verify, decrypt and decode every index file, fill
  the ``MasterIndex``). Reported: retained bytes per blob (tracemalloc's current size
  after loading, temporaries freed), the RSS growth per blob, and the peak during
  loading per blob (tracemalloc peak; RSS high-water mark).
* **files, per file**: keyark has no files cache; an incremental backup compares each
  directory with its parent snapshot's listing (``decode_tree`` into ``{name: Node}``,
  as ``Archiver._parent_nodes`` does), held while that directory is walked. The child
  decodes N file nodes (directories of 10 files, one content blob each) and keeps them:
  bytes per node, tracemalloc and RSS. Only the listings of the directories being
  walked are held at once, so this cost scales with directory size, not tree size.

Printed next to the reference figures: restic ~350 bytes/blob (2019; cut since) and
borg 2 ~100 bytes/chunk plus ~230 bytes/file (its files cache). ``--compare-json``
adds, from a compare.py run that had both the ``many`` and the ``million`` corpus,
each tool's marginal peak RSS per file for each operation (peak difference over file
difference): a whole-process figure that includes everything a tool keeps per file.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

PASSWORD = b"memory-model-passphrase-not-secret"
BLOBS_PER_PACK = 1000
REFERENCES = {
    "restic index": "~350 B/blob (2019 figure; reduced in later releases)",
    "borg 2 chunks index": "~100 B/chunk",
    "borg 2 files cache": "~230 B/file",
}
TARGET_BYTES_PER_BLOB = 100  # issue 19, section 3


def _rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# ----------------------------------------------------------------------------- index
def build_index_repository(path: Path, blobs: int) -> None:
    """A repository whose index files list BLOBS synthetic data blobs (no packs)."""
    from keyark.backends.local import LocalBackend
    from keyark.repo.index import PackRecord
    from keyark.repo.pack import DATA, PackEntry
    from keyark.repo.packer import INDEX_PACKS_PER_FILE
    from keyark.repo.repository import Repository

    if path.exists():
        shutil.rmtree(path)
    repo = Repository.init(LocalBackend(path), PASSWORD)
    key_id = repo.keys.keyring.current.key_id
    rng = _Counter()
    batch: list[PackRecord] = []
    for start in range(0, blobs, BLOBS_PER_PACK):
        entries = []
        offset = 0
        for _ in range(min(BLOBS_PER_PACK, blobs - start)):
            length = 1000 + rng.next() % 3000
            entries.append(PackEntry(DATA, rng.blob_id(), offset, length, length * 3, 1))
            offset += length
        batch.append(PackRecord(rng.blob_id(), offset + 4096, entries, key_id, True))
        if len(batch) == INDEX_PACKS_PER_FILE:
            repo.packs.write_index(batch)
            batch = []
    if batch:
        repo.packs.write_index(batch)
    repo.close()
    (path / "memory-model.json").write_text(json.dumps({"blobs": blobs}))


class _Counter:
    """Deterministic distinct ids (SHA-256 of a counter), cheaper than a PRNG here."""

    def __init__(self) -> None:
        self._n = 0

    def next(self) -> int:
        self._n += 1
        return self._n * 2654435761 % 2**32

    def blob_id(self) -> bytes:
        self._n += 1
        return hashlib.sha256(self._n.to_bytes(8, "little")).digest()


def measure_index(path: Path, traced: bool) -> dict[str, float]:
    """In this (fresh) process: open the repository and load its index."""
    from keyark.backends.local import LocalBackend
    from keyark.crypto.slots import Credentials
    from keyark.repo.repository import Repository

    repo = Repository.open(LocalBackend(path), Credentials(passphrase=PASSWORD))
    gc.collect()
    before = _rss_kib()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    repo.blobs.load_index()
    seconds = time.perf_counter() - started
    gc.collect()
    result: dict[str, float] = {"blobs": len(repo.blobs.index), "seconds": seconds}
    if traced:
        current, peak = tracemalloc.get_traced_memory()
        result |= {"traced_bytes": current, "traced_peak_bytes": peak}
    else:
        result |= {
            "rss_delta_bytes": (_rss_kib() - before) * 1024,
            "hwm_delta_bytes": (_rss_kib("VmHWM") - before) * 1024,
        }
    repo.close()
    return result


# ----------------------------------------------------------------------------- files
def measure_nodes(files: int, traced: bool) -> dict[str, float]:
    """Decode FILES file nodes (directories of 10) into {name: Node} dicts and keep them."""
    from keyark.repo.tree import FILE, Node, decode_tree, encode_tree

    counter = _Counter()
    trees: list[bytes] = []
    for start in range(0, files, 10):
        nodes = [
            Node(
                name=f"f{n:02d}.{'bin' if n % 2 else 'txt'}",
                type=FILE,
                mode=0o644,
                user="root",
                group="root",
                mtime_ns=1_700_000_000_000_000_000 + start + n,
                ctime_ns=1_700_000_000_000_000_000 + start + n,
                size=2048 + n,
                inode=1_000_000 + start + n,
                device=2049,
                content=[counter.blob_id()],
            )
            for n in range(min(10, files - start))
        ]
        trees.append(encode_tree(nodes))
    gc.collect()
    before = _rss_kib()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    kept = [{node.name: node for node in decode_tree(data)} for data in trees]
    seconds = time.perf_counter() - started
    gc.collect()
    result: dict[str, float] = {"files": sum(len(d) for d in kept), "seconds": seconds}
    if traced:
        current, peak = tracemalloc.get_traced_memory()
        result |= {"traced_bytes": current, "traced_peak_bytes": peak}
    else:
        result |= {"rss_delta_bytes": (_rss_kib() - before) * 1024}
    return result


# ----------------------------------------------------------------------------- parent
def _child(args: list[str]) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", *args]
    found = subprocess.run(command, capture_output=True, text=True, check=False)
    if found.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{found.stderr}")
    result: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def model(counts: list[int], work: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Index and node figures for every count (each in two fresh child processes)."""
    results: dict[str, dict[str, dict[str, float]]] = {"index": {}, "files": {}}
    for count in counts:
        repo = work / f"index-{count}"
        stamp = repo / "memory-model.json"
        if not stamp.exists() or json.loads(stamp.read_text()) != {"blobs": count}:
            print(f"writing {count} blobs into index files under {repo} ...", flush=True)
            _child(["build", str(repo), str(count)])
        # The untraced child's seconds win (tracemalloc slows allocation down).
        index = _child(["index", str(repo), "traced"]) | _child(["index", str(repo), "rss"])
        results["index"][str(count)] = index
        files = _child(["nodes", str(count), "traced"]) | _child(["nodes", str(count), "rss"])
        results["files"][str(count)] = files
    return results


def render(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table: bytes per blob / per file, next to the reference figures."""
    lines = [
        "| structure | count | retained B/unit (tracemalloc) | RSS growth B/unit "
        "| peak B/unit while loading | load s | reference |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for kind, count_key in (("index", "blobs"), ("files", "files")):
        for count, r in results[kind].items():
            n = r[count_key] or 1
            peak = r["traced_peak_bytes"] / n
            label = (
                "index (MasterIndex, per blob)"
                if kind == "index"
                else "parent tree nodes (per file)"
            )
            reference = (
                f"restic {REFERENCES['restic index']}; borg 2 {REFERENCES['borg 2 chunks index']}"
                f"; target <= {TARGET_BYTES_PER_BLOB} B/blob"
                if kind == "index"
                else f"borg 2 files cache {REFERENCES['borg 2 files cache']} (whole tree)"
            )
            lines.append(
                f"| {label} | {int(float(count)):,} | {r['traced_bytes'] / n:.0f} "
                f"| {r['rss_delta_bytes'] / n:.0f} | {peak:.0f} | {r['seconds']:.2f} "
                f"| {reference} |"
            )
    return "\n".join(lines)


def per_file_slopes(compare_json: Path) -> str:
    """Marginal peak RSS per file between the many and million corpora of a compare run."""
    document = json.loads(compare_json.read_text())
    corpora = document["corpora"]
    if "many" not in corpora or "million" not in corpora:
        return f"{compare_json}: needs both the 'many' and the 'million' corpus"
    extra_files = corpora["million"]["files"] - corpora["many"]["files"]
    peaks: dict[tuple[str, str, str], int] = {}
    for run in document["runs"]:
        if run["cache"] != "cold" or run["tool"] == "reference":
            continue
        for m in run["measurements"]:
            if m["returncode"] == 0:
                key = (run["corpus"], run["tool"], m["op"])
                peaks[key] = max(peaks.get(key, 0), m["max_rss_kib"])
    lines = [
        f"Marginal peak RSS per file, cold runs, from {compare_json} "
        f"({corpora['many']['files']:,} -> {corpora['million']['files']:,} files):",
        "| operation | keyark B/file | restic B/file | borg B/file |",
        "|---|---:|---:|---:|",
    ]
    for op in ("backup1", "backup2", "backup3", "restore", "ls", "find"):
        cells = []
        for tool in ("keyark", "restic", "borg"):
            small, large = peaks.get(("many", tool, op)), peaks.get(("million", tool, op))
            cells.append(
                "-"
                if small is None or large is None
                else f"{(large - small) * 1024 / extra_files:.0f}"
            )
        lines.append(f"| {op} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure (or, with --child, one measurement in this process)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _run_child(argv[1:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--counts", default="100000,1000000", help="blob/file counts")
    default_work = Path(__file__).resolve().parent / "work" / "memory-model"
    parser.add_argument("--work", type=Path, default=default_work)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--compare-json", type=Path, help="a compare.py --json result")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",") if c]
    args.work.mkdir(parents=True, exist_ok=True)
    results = model(counts, args.work)
    if counts:  # --counts "" with --compare-json: only the per-file slopes
        print(render(results))
        print(
            "\nRetained: Python heap held after loading, temporaries freed (tracemalloc). "
            "RSS growth: resident set after minus before (includes allocator slack). Peak: "
            "the most tracemalloc saw at once during loading."
        )
    if args.compare_json:
        print()
        print(per_file_slopes(args.compare_json))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _run_child(argv: list[str]) -> int:
    kind = argv[0]
    if kind == "build":
        build_index_repository(Path(argv[1]), int(argv[2]))
        print(json.dumps({}))
    elif kind == "index":
        print(json.dumps(measure_index(Path(argv[1]), argv[2] == "traced")))
    elif kind == "nodes":
        print(json.dumps(measure_nodes(int(argv[1]), argv[2] == "traced")))
    else:
        raise SystemExit(f"unknown child {kind!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
